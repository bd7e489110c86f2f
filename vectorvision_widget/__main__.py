"""`python -m vectorvision_widget` is the `vectorvision` command."""

from vectorvision_widget.cli import main

raise SystemExit(main())
