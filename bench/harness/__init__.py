"""What the benchmarks share. Nothing here imports Django at import time: `database` and `cpu`
import it inside their functions, after the benchmark has called django.setup()."""
