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
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from server.inference.batch import run

    return run(args)
