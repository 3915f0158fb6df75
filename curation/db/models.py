"""The schema of the whole pipeline, SQLAlchemy 2 typed ORM.

Stages only add rows: a filter records a decision, it never deletes an image; a review supersedes
an earlier review; a split records its spec and members. Columns that later stages fill (hashes,
labels) are nullable so each stage can run on what the earlier ones produced.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, MetaData,
                        String, Text, UniqueConstraint, func, true)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_N_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
          "pk": "pk_%(table_name)s"}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Created:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, server_default=func.now())


# --- taxonomy ------------------------------------------------------------------------------------

class ClassSet(Created, Base):
    __tablename__ = "class_sets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    classes: Mapped[list["ImageClass"]] = relationship(back_populates="class_set", order_by="ImageClass.position")


class ImageClass(Base):
    """One class of a class set. ``key`` is the stable identifier (a WordNet id for ImageNet-R)."""

    __tablename__ = "classes"
    __table_args__ = (UniqueConstraint("class_set_id", "key"), UniqueConstraint("class_set_id", "position"))
    id: Mapped[int] = mapped_column(primary_key=True)
    class_set_id: Mapped[int] = mapped_column(ForeignKey("class_sets.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    logit_index: Mapped[Optional[int]] = mapped_column(Integer)  # index into a larger label space (ImageNet-1k)
    definition: Mapped[str] = mapped_column(Text, default="")
    class_set: Mapped[ClassSet] = relationship(back_populates="classes")


# --- scraping ------------------------------------------------------------------------------------

class Query(Created, Base):
    """A search text, optionally tied to the class it looks for and the rendition it asks for."""

    __tablename__ = "queries"
    __table_args__ = (UniqueConstraint("source", "text"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40), default="flickr")
    text: Mapped[str] = mapped_column(String(500))
    class_id: Mapped[Optional[int]] = mapped_column(ForeignKey("classes.id"), index=True)
    rendition: Mapped[Optional[str]] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ScrapeJob(Created, Base):
    __tablename__ = "scrape_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(40), default="flickr")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | done | failed
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class ScrapeWindow(Base):
    """Resumable cursor: one (query, upload-date window) of a job and the next page to fetch."""

    __tablename__ = "scrape_windows"
    __table_args__ = (UniqueConstraint("job_id", "query_id", "min_upload", "max_upload"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("scrape_jobs.id", ondelete="CASCADE"), index=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"), index=True)
    min_upload: Mapped[int] = mapped_column(BigInteger)  # unix seconds, inclusive
    max_upload: Mapped[int] = mapped_column(BigInteger)  # unix seconds, exclusive
    next_page: Mapped[int] = mapped_column(Integer, default=1)
    pages: Mapped[Optional[int]] = mapped_column(Integer)
    total_reported: Mapped[Optional[int]] = mapped_column(Integer)
    found: Mapped[int] = mapped_column(Integer, default=0)
    # pending | done | continued (past the cap, by a window from its last upload date) | failed; split: older jobs
    status: Mapped[str] = mapped_column(String(20), default="pending")
    error: Mapped[Optional[str]] = mapped_column(Text)


# --- images and where they came from -------------------------------------------------------------

class Image(Created, Base):
    """A stored image, identified by the sha256 of its bytes (its path in the store)."""

    __tablename__ = "images"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    width: Mapped[Optional[int]] = mapped_column(Integer)
    height: Mapped[Optional[int]] = mapped_column(Integer)
    format: Mapped[Optional[str]] = mapped_column(String(20))
    mode: Mapped[Optional[str]] = mapped_column(String(20))
    n_bytes: Mapped[int] = mapped_column(BigInteger)
    n_frames: Mapped[Optional[int]] = mapped_column(Integer)
    # Hashes filled by the filters; 64-bit perceptual hashes stored as signed 64-bit integers.
    pixel_sha256: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    phash: Mapped[Optional[int]] = mapped_column(BigInteger)
    dhash: Mapped[Optional[int]] = mapped_column(BigInteger)
    phash_mirror: Mapped[Optional[int]] = mapped_column(BigInteger)
    dhash_mirror: Mapped[Optional[int]] = mapped_column(BigInteger)
    hashed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    # Measured while hashing (0-255: grayscale mean, largest per-channel deviation), so quality thresholds
    # can change without decoding again.
    pixel_mean: Mapped[Optional[float]] = mapped_column(Float)
    pixel_std: Mapped[Optional[float]] = mapped_column(Float)
    # mean red, green, blue (0-255) "r,g,b": a copy keeps its colours, an unrelated picture rarely does
    pixel_rgb: Mapped[Optional[str]] = mapped_column(String(40))
    decode_error: Mapped[Optional[str]] = mapped_column(String(300))  # why hashing could not decode it
    records: Mapped[list["SourceRecord"]] = relationship(back_populates="image")


class QuerySource(Base):
    """Which queries found which source record (many-to-many)."""

    __tablename__ = "query_sources"
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id", ondelete="CASCADE"), primary_key=True)
    source_record_id: Mapped[int] = mapped_column(ForeignKey("source_records.id", ondelete="CASCADE"),
                                                  primary_key=True)
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("scrape_jobs.id"))
    rank: Mapped[Optional[int]] = mapped_column(Integer)
    found_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SourceRecord(Created, Base):
    """A candidate as its source describes it, with its provenance and its download state."""

    __tablename__ = "source_records"
    __table_args__ = (UniqueConstraint("source", "source_id"), Index("ix_source_records_status", "status"))
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))  # flickr | folder | emulator | reference ...
    source_id: Mapped[str] = mapped_column(String(500))
    url: Mapped[Optional[str]] = mapped_column(Text)
    owner: Mapped[Optional[str]] = mapped_column(String(200))
    owner_name: Mapped[Optional[str]] = mapped_column(String(500))
    license: Mapped[Optional[str]] = mapped_column(String(100))
    title: Mapped[Optional[str]] = mapped_column(Text)
    description: Mapped[Optional[str]] = mapped_column(Text)
    tags: Mapped[Optional[str]] = mapped_column(Text)
    taken_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    uploaded_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    class_id: Mapped[Optional[int]] = mapped_column(ForeignKey("classes.id"), index=True)  # label hint
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    # pending | downloaded | failed | rejected (the bytes can never be an image: not retried)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    error: Mapped[Optional[str]] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    image_id: Mapped[Optional[int]] = mapped_column(ForeignKey("images.id"), index=True)
    image: Mapped[Optional[Image]] = relationship(back_populates="records")


# --- filters -------------------------------------------------------------------------------------

class FilterDecision(Created, Base):
    """One filter's verdict on one image. A rerun marks the earlier decision not current."""

    __tablename__ = "filter_decisions"
    __table_args__ = (Index("ix_filter_decisions_current", "image_id", "filter", "current"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    filter: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    verdict: Mapped[str] = mapped_column(String(10))  # pass | reject
    reason: Mapped[Optional[str]] = mapped_column(String(200))
    score: Mapped[Optional[float]] = mapped_column(Float)
    current: Mapped[bool] = mapped_column(Boolean, default=True)


class DuplicateGroup(Created, Base):
    __tablename__ = "duplicate_groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # exact | pixels | near | mirror | reference
    keeper_image_id: Mapped[Optional[int]] = mapped_column(ForeignKey("images.id"))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    members: Mapped[list["DuplicateMember"]] = relationship(back_populates="group", cascade="all, delete-orphan")


class DuplicateMember(Base):
    __tablename__ = "duplicate_members"
    group_id: Mapped[int] = mapped_column(ForeignKey("duplicate_groups.id", ondelete="CASCADE"), primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    distance: Mapped[Optional[int]] = mapped_column(Integer)
    mirrored: Mapped[bool] = mapped_column(Boolean, default=False)
    group: Mapped[DuplicateGroup] = relationship(back_populates="members")


class ReferenceSet(Created, Base):
    """A set whose images must not leak into a benchmark (e.g. ImageNet val)."""

    __tablename__ = "reference_sets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    root: Mapped[Optional[str]] = mapped_column(Text)


class ReferenceImage(Base):
    __tablename__ = "reference_images"
    __table_args__ = (UniqueConstraint("reference_set_id", "identity"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    reference_set_id: Mapped[int] = mapped_column(ForeignKey("reference_sets.id", ondelete="CASCADE"), index=True)
    identity: Mapped[str] = mapped_column(String(500))  # relative path or id within the set
    sha256: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    phash: Mapped[Optional[int]] = mapped_column(BigInteger)
    dhash: Mapped[Optional[int]] = mapped_column(BigInteger)


# --- crowd labeling ------------------------------------------------------------------------------

class GoldItem(Created, Base):
    """An image with a known answer for a class: positive (it shows the class) or negative."""

    __tablename__ = "gold_items"
    __table_args__ = (UniqueConstraint("image_id", "class_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    answer: Mapped[bool] = mapped_column(Boolean)
    origin: Mapped[str] = mapped_column(String(40), default="import")  # import | review


class Hit(Created, Base):
    """One task: a grid of images for one class; ``assignments_per_item`` workers see each."""

    __tablename__ = "hits"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="label")  # label | qualification
    batch: Mapped[Optional[str]] = mapped_column(String(100))
    assignments_per_item: Mapped[int] = mapped_column(Integer, default=5)
    reward_note: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | complete | expired
    items: Mapped[list["HitItem"]] = relationship(back_populates="hit", order_by="HitItem.position")


class HitItem(Base):
    __tablename__ = "hit_items"
    __table_args__ = (UniqueConstraint("hit_id", "image_id"), UniqueConstraint("hit_id", "position"))
    id: Mapped[int] = mapped_column(primary_key=True)
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20), default="candidate")  # candidate | gold
    gold_answer: Mapped[Optional[bool]] = mapped_column(Boolean)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # opaque id used in image URLs
    hit: Mapped[Hit] = relationship(back_populates="items")


class Worker(Created, Base):
    __tablename__ = "workers"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)  # workerId on a crowd platform
    token: Mapped[Optional[str]] = mapped_column(String(128), unique=True)
    invite: Mapped[Optional[str]] = mapped_column(String(128))
    qualified: Mapped[Optional[bool]] = mapped_column(Boolean)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[Optional[str]] = mapped_column(Text)


class Invite(Created, Base):
    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(128), unique=True)
    uses_left: Mapped[Optional[int]] = mapped_column(Integer)
    expires_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    note: Mapped[str] = mapped_column(Text, default="")


class Assignment(Created, Base):
    """One worker's lease on one HIT; votes hang off it. Submitting twice changes nothing."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("hit_id", "worker_id"), Index("ix_assignments_status", "hit_id", "status"))
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), index=True)
    external_assignment_id: Mapped[Optional[str]] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="leased")  # leased | submitted | expired | returned
    lease_expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    submitted_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    duration_s: Mapped[Optional[float]] = mapped_column(Float)
    completion_code: Mapped[Optional[str]] = mapped_column(String(64))
    gold_correct: Mapped[Optional[int]] = mapped_column(Integer)
    gold_total: Mapped[Optional[int]] = mapped_column(Integer)


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("assignment_id", "hit_item_id"),
                      Index("ix_votes_image_class", "image_id", "class_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    hit_item_id: Mapped[int] = mapped_column(ForeignKey("hit_items.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), index=True)
    selected: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AggregatedLabel(Created, Base):
    __tablename__ = "aggregated_labels"
    __table_args__ = (UniqueConstraint("image_id", "class_id", "method"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    method: Mapped[str] = mapped_column(String(40))  # frequency | dawid-skene | ...
    frequency: Mapped[Optional[float]] = mapped_column(Float)
    n_votes: Mapped[int] = mapped_column(Integer, default=0)
    posterior: Mapped[Optional[float]] = mapped_column(Float)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    quality: Mapped[Optional[float]] = mapped_column(Float)  # crowdlab: consensus quality (0-1, low = doubtful)
    active_score: Mapped[Optional[float]] = mapped_column(Float)  # crowdlab: low = the next vote is worth most


class ModelRun(Created, Base):
    """A model that predicted the candidates of a class set out of sample (K-fold), with what it was made of."""

    __tablename__ = "model_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    class_set_id: Mapped[int] = mapped_column(ForeignKey("class_sets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # linear-probe
    arch: Mapped[str] = mapped_column(String(100))
    weights: Mapped[str] = mapped_column(Text)
    weights_sha256: Mapped[str] = mapped_column(String(64))
    folds: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    n_images: Mapped[int] = mapped_column(Integer, default=0)
    n_labelled: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ModelPrediction(Base):
    """P(image shows class) from one run, predicted by a model that never saw the image's label."""

    __tablename__ = "model_predictions"
    __table_args__ = (UniqueConstraint("run_id", "image_id", "class_id"),
                      Index("ix_model_predictions_class_run", "class_id", "run_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("model_runs.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    probability: Mapped[float] = mapped_column(Float)


class WorkerScore(Created, Base):
    """A worker's quality as one aggregation method rates it (crowdlab), rewritten by each run."""

    __tablename__ = "worker_scores"
    __table_args__ = (UniqueConstraint("worker_id", "method"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(40))
    quality: Mapped[float] = mapped_column(Float)
    agreement: Mapped[Optional[float]] = mapped_column(Float)  # share of its labels equal to the consensus
    n_labels: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)


class User(Created, Base):
    """A reviewer or admin account (workers are anonymous and live in ``workers``)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20), default="reviewer")  # reviewer | admin
    worker_id: Mapped[Optional[int]] = mapped_column(ForeignKey("workers.id"))  # if they also labeled
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # +1 ends all sessions
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Review(Created, Base):
    """An expert decision on one image. ``class_id`` is the confirmed single label."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_image_current", "image_id", "current"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    decision: Mapped[str] = mapped_column(String(20))  # accept | reject | relabel | multi
    class_id: Mapped[Optional[int]] = mapped_column(ForeignKey("classes.id"))
    proposed_class_id: Mapped[Optional[int]] = mapped_column(ForeignKey("classes.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    current: Mapped[bool] = mapped_column(Boolean, default=True)  # false once undone
    classes: Mapped[str] = mapped_column(Text, default="", server_default="")  # "multi": the class keys, comma-separated


# --- splits and exports --------------------------------------------------------------------------

class Split(Created, Base):
    __tablename__ = "splits"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    preset: Mapped[Optional[str]] = mapped_column(String(100))
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    spec_sha256: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SplitMember(Base):
    """One image in one subset of a split (train, iid_test, an OOD test ...)."""

    __tablename__ = "split_members"
    __table_args__ = (UniqueConstraint("split_id", "subset", "image_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    split_id: Mapped[int] = mapped_column(ForeignKey("splits.id", ondelete="CASCADE"), index=True)
    subset: Mapped[str] = mapped_column(String(100))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    labels: Mapped[list[Any]] = mapped_column(default=list)  # class keys; one for single-label sets
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)


class Export(Created, Base):
    __tablename__ = "exports"
    __table_args__ = (UniqueConstraint("split_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    split_id: Mapped[int] = mapped_column(ForeignKey("splits.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    format: Mapped[str] = mapped_column(String(40))
    path: Mapped[str] = mapped_column(Text)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    n_images: Mapped[int] = mapped_column(Integer)
