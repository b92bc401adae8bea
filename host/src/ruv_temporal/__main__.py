from ruv_temporal.cli import main

main()
