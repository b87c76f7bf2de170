"""`python -m cnnnative ...` runs the command-line interface; with only the flags below it
prints where the C API is instead (like pkg-config):

    python -m cnnnative --cflags --libs     -I... -L... -lcnnnative -Wl,-rpath,...
    python -m cnnnative --include-dir | --library-dir | --cmake-dir | --pkgconfig-dir
"""
import sys

_C_API_FLAGS = ("--cflags", "--libs", "--include-dir", "--library-dir", "--cmake-dir", "--pkgconfig-dir")


def _c_api(flags) -> int:
    from . import c_api

    out = []
    for flag in flags:
        try:
            out += {"--cflags": c_api.cflags, "--libs": c_api.libs,
                    "--include-dir": lambda: [c_api.get_include()],
                    "--library-dir": lambda: [c_api.get_library_dir()],
                    "--cmake-dir": lambda: [c_api.get_cmake_dir()],
                    "--pkgconfig-dir": lambda: [c_api.get_pkgconfig_dir()]}[flag]()
        except FileNotFoundError as e:
            raise SystemExit(f"cnnnative {flag}: {e}") from None
    print(" ".join(out))
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and all(a in _C_API_FLAGS for a in args):
        sys.exit(_c_api(args))
    from .cli import main

    sys.exit(main())
