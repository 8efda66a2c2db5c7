"""The `slidelab apply` arguments. Kept free of heavy imports: the CLI builds every
subcommand's parser before `serve` monkey-patches, so torch and friends load on use."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    """Register the `apply` subcommand on the CLI's subparsers."""
    parser = sub.add_parser("apply", help="apply an app to slides and write the exports")
    parser.add_argument("app", help="app id (in --data-dir), app folder or .slidelab-app file")
    parser.add_argument("slides", nargs="+", help="slide files")
    parser.add_argument("--out", required=True, help="folder for the exports")
    parser.add_argument("--threshold", default="0", help="minimum probability 0..1 (default 0)")
    parser.add_argument("--region", choices=("tissue", "whole"), default="tissue")
    parser.add_argument("--data-dir", help="where apps are kept (for an app id)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--shard", help="i/N: only every N-th slide from the i-th (0-based; a Slurm job array)"
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run on Ray: a cluster's address, 'auto', or nothing for a local Ray",
    )
    parser.add_argument(
        "--workers", type=int, help="with --ray: model workers (default: one per GPU, or CPUs/2)"
    )
    parser.add_argument(
        "--cpus-per-worker", type=int, default=2, help="with --ray: CPUs per model worker"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from server.inference.batch import run

    return run(args)
