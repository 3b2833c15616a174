"""The support console: server-rendered pages for staff, served by the API service under /console.

Staff (not partners) sign in with a dev login key or a Google ID token (``console_auth``); each
sees every partner or one. Pages: counts and lists by state, search by track id, file name, URI
or partner, a track page (timeline chart, the last error, why it is stuck, similar tracks, a
retry button) and a CSV export of FAILED tracks. Every read goes through the staff member's
scope, so one partner's tracks never show in another's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from functools import wraps
from importlib import resources
from typing import Any

from flask import Blueprint, Flask, Response, abort, flash, redirect, render_template, request, session, url_for

from trackscan.api import console_chart, console_session, track_operations
from trackscan.api.console_auth import Staff, StaffDirectory
from trackscan.api.console_session import SessionRevocations, new_session_id
from trackscan.api.errors import ApiError
from trackscan.api.throttle import FailureThrottle, failure_buckets, log_failure
from trackscan.api.validation import TRACK_ID
from trackscan.domain.display import object_name, shown, unshown
from trackscan.domain.explain import explanation
from trackscan.domain.tracks import TrackRecord, TrackState
from trackscan.domain.webhooks import WebhookAttempt, latest_attempts
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.similar import similar_tracks
from trackscan.pipeline.state import segments_scored

BLUEPRINT = "console"
PAGE_SIZE = 50
CSV_LIMIT = 10_000
SEARCH_LIMIT = 50
WEBHOOK_ATTEMPTS_READ = 100  # the partner's latest attempts searched for the track's
WEBHOOK_ATTEMPTS_SHOWN = 10


def register(app: Flask, deps: Deps, staff: StaffDirectory, throttle: FailureThrottle) -> None:
    """Serves the console on the app (call only when ``staff.enabled``); failed logins count in ``throttle``."""
    console_session.configure(app, deps.config.console_secret)
    revocations = SessionRevocations(deps.blobs, deps.work_root_uri)
    app.register_blueprint(_blueprint(deps, staff, throttle, revocations), url_prefix="/console")


def _blueprint(
    deps: Deps, staff_directory: StaffDirectory, throttle: FailureThrottle, revocations: SessionRevocations
) -> Blueprint:
    pages = Blueprint(BLUEPRINT, __name__, template_folder="templates")
    pages.after_request(console_session.add_security_headers)
    # Names and messages come from partners: escaped visibly (trackscan.domain.display), then HTML-escaped.
    pages.add_app_template_filter(shown, "shown")
    pages.add_app_template_global(lambda record: shown(object_name(record.source_uri, record.partner)), "object_name")
    views = _Views(deps)

    def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            staff = _current_staff(staff_directory, revocations)
            if staff is None:
                return redirect(url_for("console.login", next=request.full_path))
            if request.method == "POST":
                _check_csrf()
            return view(staff, *args, **kwargs)

        return checked

    sign_in = _SignIn(staff_directory, throttle, revocations)
    pages.add_url_rule("/login", "login", sign_in.login, methods=["GET", "POST"])
    pages.add_url_rule("/logout", "logout", sign_in.logout, methods=["POST"])

    @pages.route("/console.css")
    def stylesheet() -> Response:
        css = resources.files("trackscan.api").joinpath("templates/console/console.css").read_text(encoding="utf-8")
        return Response(css, mimetype="text/css")

    pages.add_url_rule("/", "index", signed_in(views.index))
    pages.add_url_rule("/search", "search", signed_in(views.search))
    pages.add_url_rule("/tracks/<track_id>", "track", signed_in(views.track))
    pages.add_url_rule("/tracks/<track_id>/retry", "retry", signed_in(views.retry), methods=["POST"])
    pages.add_url_rule("/tracks/<track_id>/redeliver", "redeliver", signed_in(views.redeliver), methods=["POST"])
    pages.add_url_rule("/failed.csv", "failed_csv", signed_in(views.failed_csv))
    return pages


class _SignIn:
    """The login and logout forms: CSRF-checked, failed logins throttled, logout revoking the session."""

    def __init__(self, staff: StaffDirectory, throttle: FailureThrottle, revocations: SessionRevocations) -> None:
        self._staff = staff
        self._throttle = throttle
        self._revocations = revocations

    def login(self) -> Any:
        """GET: the form; POST: a sign-in with a console key, then on to ``next``."""
        session.setdefault("csrf", new_session_id())  # before sign-in too: no login CSRF
        if request.method == "GET":
            return render_template("console/login.html")
        _check_csrf()
        key = request.form.get("key", "")
        buckets = failure_buckets(request.remote_addr, key)
        wait_s = self._throttle.wait_s(buckets)
        staff = None if wait_s else self._staff.by_key(key)
        if staff is not None:
            session.clear()
            session.permanent = True  # expires after console_session.SESSION_LIFETIME
            session.update(name=staff.name, partner=staff.partner, sid=new_session_id(), csrf=new_session_id())
            return redirect(_safe_next(request.args.get("next")))
        log_failure("console", request.remote_addr, wait_s)
        if wait_s:
            flash(f"Too many failed sign-ins; try again in {wait_s} s.")
            return render_template("console/login.html"), 429, {"Retry-After": str(wait_s)}
        self._throttle.failed(buckets)
        flash("That key is not a console login.")
        return render_template("console/login.html")

    def logout(self) -> Any:
        """Ends the session here and on every instance (its id is revoked), then back to the login."""
        _check_csrf()
        if "sid" in session:
            self._revocations.revoke(session["sid"])
        session.clear()
        return redirect(url_for("console.login"))


def _check_csrf() -> None:
    """Refuses a form post whose token is not this session's (403)."""
    token = session.get("csrf")
    if not token or request.form.get("csrf") != token:
        abort(403)


def _current_staff(directory: StaffDirectory, revocations: SessionRevocations) -> Staff | None:
    by_token = directory.by_token(request.headers.get("Authorization"))
    if by_token is not None:
        session.setdefault("csrf", new_session_id())
        return by_token
    if "name" not in session or "sid" not in session or revocations.is_revoked(session["sid"]):
        return None
    return Staff(session["name"], session.get("partner"))


def _safe_next(target: str | None) -> str:
    # Only a path of this console: never an open redirect to another site, and never a control
    # or non-ASCII character, which cannot go into the Location header (a 500 otherwise).
    if target and target.startswith("/console/") and target.isascii() and target.isprintable():
        return target
    return url_for("console.index")


class _Views:
    """The pages; each takes the signed-in member of staff first and reads only their partners' tracks."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    def index(self, staff: Staff) -> str:
        """Counts by state and one page of tracks, filtered by state and (for all-partner staff) partner."""
        partner = staff.partner or (request.args.get("partner") or None)
        state = _state(request.args.get("state"))
        after = request.args.get("after") or None
        records = self._deps.queries.query(partner, state, PAGE_SIZE + 1, after)
        counts = {s.value: self._deps.queries.count(partner, s) for s in TrackState}
        more = records[PAGE_SIZE - 1].track_id if len(records) > PAGE_SIZE else None
        registry = self._deps.webhook_registry
        return render_template(
            "console/index.html",
            staff=staff,
            counts=counts,
            records=records[:PAGE_SIZE],
            state=state.value if state else "",
            partner=partner or "",
            next_after=more,
            explain=explanation,
            webhook=registry.webhook(partner) if partner else None,
            webhook_attempts=registry.attempts(partner, WEBHOOK_ATTEMPTS_SHOWN) if partner else [],
            undelivered=registry.attempts(partner, WEBHOOK_ATTEMPTS_SHOWN, undelivered=True) if partner else [],
        )

    def search(self, staff: Staff) -> Any:
        """Tracks named by id, URI or file name; a partner's name lists that partner's tracks."""
        query = (request.args.get("q") or "").strip()
        if TRACK_ID.fullmatch(query):
            return redirect(url_for("console.track", track_id=query))
        lookup = self._deps.queries.by_source if "://" in query else self._deps.queries.by_name
        # A name as the console shows it (escaped) finds the track too; a bare name is its last segment.
        raw = unshown(query) if "://" in query else unshown(query).rsplit("/", 1)[-1]
        found = [r for r in lookup(raw, SEARCH_LIMIT) if staff.sees(r.partner)] if query else []
        if not found and query and staff.sees(query) and self._deps.queries.query(query, None, 1, None):
            return redirect(url_for("console.index", partner=query))
        return render_template("console/search.html", staff=staff, query=query, records=found, explain=explanation)

    def track(self, staff: Staff, track_id: str) -> Any:
        """Everything about one track: state, why, the error, the timeline chart, similar tracks."""
        record = self._visible(staff, track_id)
        if record is None:
            return render_template("console/missing.html", staff=staff, track_id=track_id), 404
        done = segments_scored(self._deps, record.track_id) if not record.state.is_final else None
        spans = console_chart.timeline_spans(record)
        similar = similar_tracks(self._deps.search, record, 5) if record.state is TrackState.DONE else []
        return render_template(
            "console/track.html",
            staff=staff,
            record=record,
            why=explanation(record),
            segments_done=done,
            chart=console_chart.timeline_svg(record),
            by_step=console_chart.time_by_step(record, spans),
            duration=console_chart.duration_label,
            similar=similar,
            reconcile_after_min=self._deps.config.reconcile_after_s / 60,
            webhook=self._deps.webhook_registry.webhook(record.partner),
            webhook_attempts=self._webhook_attempts(record.partner, record.track_id),
        )

    def _webhook_attempts(self, partner: str, track_id: str) -> list[WebhookAttempt]:
        """The track's webhook send attempts among its partner's latest and undelivered ones, newest first."""
        registry = self._deps.webhook_registry
        found = registry.attempts(partner, WEBHOOK_ATTEMPTS_READ) + registry.attempts(
            partner, WEBHOOK_ATTEMPTS_READ, undelivered=True
        )
        unique = dict.fromkeys(a for a in found if a.track_id == track_id)  # an undelivered one is in both
        return latest_attempts(list(unique), WEBHOOK_ATTEMPTS_SHOWN, undelivered=False)

    def retry(self, staff: Staff, track_id: str) -> Any:
        """Sends a FAILED track through the pipeline again (the partner API's retry)."""
        record = self._visible(staff, track_id)
        if record is None:
            return render_template("console/missing.html", staff=staff, track_id=track_id), 404
        try:
            track_operations.retry_track(self._deps, record.partner, record.track_id)
            flash(f"Track {record.track_id} was sent through the pipeline again.")
        except ApiError as exc:
            flash(f"Not retried: {exc.message}")
        return redirect(url_for("console.track", track_id=record.track_id))

    def redeliver(self, staff: Staff, track_id: str) -> Any:
        """Sends a final track's latest result event to its partner's webhook again (the API's redeliver)."""
        record = self._visible(staff, track_id)
        if record is None:
            return render_template("console/missing.html", staff=staff, track_id=track_id), 404
        try:
            event = track_operations.redeliver_track(self._deps, record.partner, record.track_id)
            flash(f"Its {event.type} event ({event.event_id}) was sent again.")
        except ApiError as exc:
            flash(f"Not sent: {exc.message}")
        return redirect(url_for("console.track", track_id=record.track_id))

    def failed_csv(self, staff: Staff) -> Response:
        """Every FAILED track in the staff member's scope (up to 10 000), newest first, as CSV."""
        partner = staff.partner or (request.args.get("partner") or None)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["track_id", "partner", "source_uri", "error_code", "error_message", "step", "failed_at"])
        for record in self._failed(partner):
            error = record.error
            writer.writerow(
                [
                    record.track_id,
                    record.partner,
                    record.source_uri,
                    error.code if error else "",
                    error.message if error else "",
                    error.step if error else "",
                    record.updated_at,
                ]
            )
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=failed-tracks.csv"},
        )

    def _failed(self, partner: str | None) -> list[TrackRecord]:
        records: list[TrackRecord] = []
        after = None
        while len(records) < CSV_LIMIT:
            page = self._deps.queries.query(partner, TrackState.FAILED, 500, after)
            records += page
            if len(page) < 500:
                break
            after = page[-1].track_id
        return records[:CSV_LIMIT]

    def _visible(self, staff: Staff, track_id: str) -> TrackRecord | None:
        record = self._deps.tracks.get(track_id) if TRACK_ID.fullmatch(track_id) else None
        return record if record is not None and staff.sees(record.partner) else None


def _state(value: str | None) -> TrackState | None:
    try:
        return TrackState(value.upper()) if value else None
    except ValueError:
        return None
