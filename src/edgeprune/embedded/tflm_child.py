"""The TFLM child process: ``python tflm_child.py MODEL INPUTS OUTPUTS ARENA_BYTES``.

Loads MODEL into TensorFlow Lite Micro's Python interpreter (its recording allocator), runs every sample of the
int8 array INPUTS (``.npy``, read without pickle) one at a time, saves the raw outputs to OUTPUTS and prints the
allocator's report. TFLM prints from C onto stderr, which only a child process lets the parent read; this
module imports nothing from edgeprune so the child stays small.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    import numpy as np
    from tflite_micro.python.tflite_micro import runtime

    model, inputs, outputs, arena = argv
    interpreter = runtime.Interpreter.from_file(model, arena_size=int(arena))
    x = np.load(inputs, allow_pickle=False)
    results = []
    for i in range(len(x)):
        interpreter.set_input(x[i : i + 1], 0)
        interpreter.invoke()
        results.append(np.array(interpreter.get_output(0), copy=True))
    np.save(outputs, np.concatenate(results) if results else np.zeros((0,), np.int8), allow_pickle=False)
    sys.stderr.flush()
    interpreter.print_allocations()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
