"""Builds gaincell._gaincell with the project's CMake (target _gaincell) and installs it with python/gaincell.

Used by `pip install --no-build-isolation .` (pyproject.toml); needs the Debian packages of `make deps`. The
CMake build folder is build/pip-<python version> under the repository, so a second install reuses it (ccache,
when configured, too). GAINCELL_CMAKE_ARGS adds configure flags, GAINCELL_JOBS sets the parallel jobs."""
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        tag = sysconfig.get_config_var("SOABI") or "py"
        build = os.path.join(ROOT, "build", "pip-" + tag)
        configure = ["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DGAINCELL_PYTHON=ON",
                     "-DGAINCELL_BUILD_TESTS=OFF", "-DPython_EXECUTABLE=" + sys.executable]
        configure += shlex.split(os.environ.get("GAINCELL_CMAKE_ARGS", ""))
        jobs = os.environ.get("GAINCELL_JOBS", str(os.cpu_count() or 1))
        subprocess.check_call(configure)
        subprocess.check_call(["cmake", "--build", build, "--target", "_gaincell", "-j", jobs])
        built = os.path.join(build, "python", "gaincell")
        so = [f for f in os.listdir(built) if f.startswith("_gaincell") and f.endswith(".so")]
        if len(so) != 1:
            raise RuntimeError(f"expected one _gaincell*.so in {built}, found {so}")
        dest = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(os.path.join(built, so[0]), dest)


setup(ext_modules=[CMakeExtension("gaincell._gaincell")], cmdclass={"build_ext": CMakeBuild})
