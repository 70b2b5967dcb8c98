"""Run vLLM's own `vllm bench serve` client (vllm/benchmarks/serve.py of the installed wheel).

`vllm bench serve` is `vllm.entrypoints.cli.benchmark.serve`, which parses with
`vllm.benchmarks.serve.add_cli_args` and calls `vllm.benchmarks.serve.main`. The CLI entry point
also imports vLLM's whole server stack (fastapi, openai, mcp, ...), none of which the client uses,
so this driver makes the same two calls directly. The measuring code is vLLM's, unchanged.
"""

import sys

from vllm.benchmarks.serve import add_cli_args, main
from vllm.utils.argparse_utils import FlexibleArgumentParser

if __name__ == "__main__":
    parser = FlexibleArgumentParser(description="vllm bench serve (vLLM's client)")
    add_cli_args(parser)
    main(parser.parse_args(sys.argv[1:]))
