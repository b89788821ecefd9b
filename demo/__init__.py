"""The Gradio demo: multidimensional music search (app.py), its catalogs (catalog.py) and search
logic (engine.py). `make demo` serves it; demo/README.md is its Hugging Face Space card."""
