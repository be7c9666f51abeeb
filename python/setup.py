"""Builds the FHN op's C-ABI library (python/CMakeLists.txt, standalone) with CMake and puts it into
the package beside dynpmnn/_capi.py, which loads it with ctypes. Needs cmake, a C++20 compiler and
fmt's headers (Debian: cmake g++ libfmt-dev); the CUDA op is built where nvcc is found
(DYNPMNN_CUDA=OFF|ON in the environment forces it, CMAKE_CUDA_ARCHITECTURES picks the GPUs, 90 by
default). The library links nothing of Python or PyTorch: the wheel works with any PyTorch."""
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        build_dir = Path(self.build_lib).parent / "dynpmnn-capi"
        args = ["cmake", "-S", str(HERE), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release"]
        for key in ("DYNPMNN_CUDA", "CMAKE_CUDA_ARCHITECTURES"):
            if os.environ.get(key):
                args.append(f"-D{key}={os.environ[key]}")
        subprocess.run(args, check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "dynpmnn_fhn", "-j",
                        os.environ.get("DYNPMNN_BUILD_JOBS", "2")], check=True)
        target = Path(self.build_lib) / "dynpmnn"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(build_dir / "libdynpmnn_fhn.so", target / "libdynpmnn_fhn.so")


class BinaryDistribution(Distribution):
    def has_ext_modules(self):  # a platform wheel: it carries a native library
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
