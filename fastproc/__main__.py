from fastproc.cli import main

main()
