"""What the MPI benchmarks share: their command-line options, one thread per process, and the
launcher line for this machine (root allowed, more ranks than cores, the loopback interface)."""
import argparse
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mpi_bench_args(doc, **defaults):
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    for name, value in defaults.items():
        ap.add_argument("--" + name, type=type(value), default=value)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "dynpmnn"))
    ap.add_argument("--mpirun", default=shutil.which("mpiexec") or "mpiexec")
    ap.add_argument("--json", default=None)
    return ap.parse_args()


def single_thread_env():
    return dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def mpirun_prefix(mpirun, ranks):
    return [mpirun, "--oversubscribe", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo",
            "--mca", "oob_tcp_if_include", "lo", "-np", str(ranks)]
