"""Only the C extension; everything else about the package is in pyproject.toml.

``pseudonymisation._kernels`` holds the hot loops of pseudonymising in C, the HMAC
over OpenSSL's SHA-256 (see the comment at the top of pseudonymisation/_kernels.c).
It is optional: where no compiler or OpenSSL headers are found the install goes on
without it, and Python and NumPy do the same work, several times slower
(``pseudonymisation.NATIVE_KERNELS`` says which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pseudonymisation._kernels",
            sources=["pseudonymisation/_kernels.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
