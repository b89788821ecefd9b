import sys

from training_recipes.evaluation.cli import main

sys.exit(main())
