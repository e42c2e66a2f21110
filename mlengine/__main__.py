from mlengine.cli import main

main()
