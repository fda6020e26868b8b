"""The web front: REST API, Gradio chat page and the embeddable widget, around one Assistant."""
