from bench.ui.cli import main

raise SystemExit(main())
