"""Image making (numpy only: images.py, layout.py) and pygame drawing functions that only draw (draw.py)."""
