import sys

from training_recipes.corpus.cli import main

sys.exit(main())
