"""``python -m creme_fast`` runs the CLI."""
import sys

try:
    from creme_fast.cli import main
except KeyboardInterrupt:  # Ctrl-C while the CLI is still being imported
    sys.stderr.write("creme-fast: interrupted\n")
    sys.exit(130)

sys.exit(main())
