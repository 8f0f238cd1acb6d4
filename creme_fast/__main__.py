"""``python -m creme_fast`` runs the CLI."""
import sys

from creme_fast.cli import main

sys.exit(main())
