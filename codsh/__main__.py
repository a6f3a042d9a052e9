from codsh.cli import main

main()
