from warmnet.cli import main

raise SystemExit(main())
