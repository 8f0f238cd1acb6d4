"""Sequences as uint8 tokens: encoding, one-hot, dinucleotide shuffles, splicing."""
from creme_fast.sequence.shuffle import ShuffleMode, dinuc_shuffle
from creme_fast.sequence.splice import (
                                        OP_COPY,
                                        OP_SHUFFLE_FAST,
                                        OP_SHUFFLE_UNIFORM,
                                        EditList,
                                        splice,
)
from creme_fast.sequence.tokens import (
                                        ALPHABET,
                                        N_TOKEN,
                                        decode,
                                        encode,
                                        from_one_hot,
                                        one_hot,
                                        reverse_complement,
)

__all__ = [
    "ALPHABET",
    "N_TOKEN",
    "OP_COPY",
    "OP_SHUFFLE_FAST",
    "OP_SHUFFLE_UNIFORM",
    "EditList",
    "ShuffleMode",
    "decode",
    "dinuc_shuffle",
    "encode",
    "from_one_hot",
    "one_hot",
    "reverse_complement",
    "splice",
]
