"""`make sam-local-setup`: the container engine and the Lambda python3.13 images, once.

Idempotent: each step checks first and does only what is missing; a second run takes seconds.
Prints what it does and how long each step took. Options: --arch arm64|x86_64 (repeatable;
default both), --stop (stop the API service this started).
"""

from __future__ import annotations

import argparse
import sys
import time

from scripts.sam_local import engine, image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make sam-local-setup")
    parser.add_argument("--arch", action="append", choices=sorted(image.PIP_PLATFORMS), help="default: both")
    parser.add_argument("--stop", action="store_true", help="stop the podman API service and exit")
    args = parser.parse_args(argv)
    if args.stop:
        engine.stop_service()
        return 0
    arches = args.arch or ["arm64", "x86_64"]
    timings: dict[str, float] = {}
    started = time.perf_counter()
    try:
        with engine.step("engine packages", timings):
            engine.install_packages()
        with engine.step("engine configuration", timings):
            engine.write_config()
            if "arm64" in arches:
                engine.ensure_binfmt()
        with engine.step("podman API service", timings):
            engine.start_service()
        for arch in arches:
            with engine.step(f"image {image.tag(arch)}", timings):
                image.build(arch, timings)
        with engine.step("container bridge", timings):
            address = engine.ensure_bridge(image.tag(arches[0]))
    except engine.EngineError as exc:
        print(f"make sam-local-setup: {exc}", file=sys.stderr)
        return 1
    total = time.perf_counter() - started
    print("\nsam local setup: ready", file=sys.stderr)
    for title, took in timings.items():
        print(f"  {took:7.1f} s  {title}", file=sys.stderr)
    print(f"  {total:7.1f} s  in all", file=sys.stderr)
    print(f"  DOCKER_HOST={engine.DOCKER_HOST}  (host.containers.internal = {address})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
