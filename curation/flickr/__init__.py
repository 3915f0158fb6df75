"""Flickr as a source: the API client (``flickrapi``), license table, query building, photo records."""

from curation.flickr.client import FlickrClient, FlickrRequestError, FlickrUnavailable, RetryPolicy, make_client
from curation.flickr.licenses import License, load_licenses, resolve_licenses
from curation.flickr.queries import QuerySpec, build_queries

__all__ = ["FlickrClient", "FlickrRequestError", "FlickrUnavailable", "RetryPolicy", "make_client", "License",
           "load_licenses", "resolve_licenses", "QuerySpec", "build_queries"]
