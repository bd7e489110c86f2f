"""`python -m vectorvision_widget` is the `vectorvision` command."""

from .cli import main

raise SystemExit(main())
