"""Make the int8 version of an export with its gate, forced: python int8_gate.py FP32.onnx OUT.onnx."""
import logging, sys, time
from pathlib import Path
from creme_fast.export.precision import calibration_loci, reduce_export
logging.basicConfig(level=logging.INFO)
src = Path(sys.argv[1]); out = Path(sys.argv[2]); out.parent.mkdir(parents=True, exist_ok=True)
t0 = time.perf_counter()
entry = reduce_export(src, out, "int8", loci=calibration_loci(196_608, 2), force=True)
print("gate", entry, f"{time.perf_counter() - t0:.0f} s")
