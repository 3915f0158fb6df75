"""The labeling web app: HITs with hidden gold, leasing, worker quality, aggregation, review, dashboard.

Nothing heavy is imported here; :func:`annotate_ui.app.create_app` builds the Flask app.
"""
