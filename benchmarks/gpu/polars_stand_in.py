"""A stand-in for ``polars`` on the device (benchmarks/gpu/run.sh installs it only where
polars cannot be imported).

enformer-pytorch imports polars at import time for its ``GenomeIntervalDataset``
alone; the GPU run never uses that loader, and polars' runtime wheel (54 MB) would
cost a device call of its own. Any use fails loudly.
"""


def __getattr__(name: str):
    raise ImportError(f"polars.{name}: polars is not installed on the device (a stand-in "
                      "from benchmarks/gpu/run.sh); enformer-pytorch's data loaders need it")
