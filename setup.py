"""Build the optional C helper; candlecast works without it (a slower pure path is used)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "candlecast._numrows",
            sources=["src/candlecast/_numrows.c"],
            extra_compile_args=["-O2", "-ffp-contract=off"],  # IEEE steps as Python does them
            optional=True,  # no compiler: install anyway, decode JSON frames with orjson
        )
    ]
)
