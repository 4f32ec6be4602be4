from gui_trader.cli import main

raise SystemExit(main())
