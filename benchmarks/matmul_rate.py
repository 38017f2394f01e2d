"""This machine's matrix-multiply rate: the practical limit of a training step's FLOP rate.

    measure_in_process("benchmarks.matmul_rate:measure", {"size": 2048, "dtype": "float32"})

A chain of square matrix products compiled with XLA, the way the training
step runs its matmuls, timed after a warm-up; the best of several runs,
since the peak is what the step is compared with.
"""

import time

from whisper.utils.quiet_import import import_tensorflow_quietly

PRODUCTS_PER_RUN = 8


def measure(settings):
    """{"flop_per_second": ...} for `settings["size"]`-square `settings["dtype"]` matmuls."""
    tf = import_tensorflow_quietly()
    size, dtype = settings["size"], settings["dtype"]
    matrix = tf.random.normal((size, size), stddev=size**-0.5, dtype="float32")
    matrix = tf.cast(matrix, dtype)

    @tf.function(jit_compile=True)
    def products(x):
        for _ in range(PRODUCTS_PER_RUN):
            x = tf.matmul(x, matrix)
        return tf.reduce_sum(tf.cast(x, "float32"))

    products(matrix).numpy()
    best = float("inf")
    for _ in range(settings.get("runs", 5)):
        start = time.perf_counter()
        products(matrix).numpy()
        best = min(best, time.perf_counter() - start)
    return {"flop_per_second": 2 * size**3 * PRODUCTS_PER_RUN / best, "dtype": dtype}
