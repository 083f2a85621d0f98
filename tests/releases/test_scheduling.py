"""The scheduler: turns per build, leases, and the sweeper (the broker is faked here; the
fault suite, tests/faults/, runs all of it with real workers, Redis, PostgreSQL and S3)."""

import socket
import subprocess
import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from kombu import Connection

from common import procs
from releases import access, pipeline, services
from releases.models import Lease, Release, Run
from releases.services import scheduling
from tests.processes import redis_server_command


@pytest.fixture
def release(keyed):
    return Release.objects.create(build=keyed.build, name="r", number=1, status="processing")


@pytest.fixture
def sent(monkeypatch):
    """What was sent to the broker: (run id, sides or "diff")."""
    calls = []
    monkeypatch.setattr(
        pipeline,
        "send_diff",
        lambda run_id, first_look=False: calls.append((run_id, "diff")) or True,
    )
    monkeypatch.setattr(
        pipeline,
        "send_captures",
        lambda run_id, sides: calls.append((run_id, tuple(sides))) or True,
    )
    monkeypatch.setattr(pipeline, "broker_lost_messages", lambda: False)
    return calls


def queued(run, seconds_ago=0):
    Run.objects.filter(pk=run.pk).update(queued_at=timezone.now() - timedelta(seconds=seconds_ago))


def lease(run, step, *, holder="worker-1 task", seconds_left=20):
    return Lease.objects.create(
        run=run, step=step, holder=holder, until=timezone.now() + timedelta(seconds=seconds_left)
    )


def needs_diff(release, name, **fields):
    return Run.objects.create(release=release, name=name, status="needs_diff", **fields)


# --- the sweeper ----------------------------------------------------------------------------


def test_an_expired_lease_sends_the_step_again(release, sent):
    run = needs_diff(release, "/killed", pipeline_attempts=1)
    queued(run, seconds_ago=40)
    lease(run, "diff", seconds_left=-5)  # its worker stopped renewing it
    assert services.sweep_stuck_runs() == {"requeued": 1, "failed": 0, "sent": 1}
    assert sent == [(run.id, "diff")]
    assert not Lease.objects.exists()
    run.refresh_from_db()
    assert run.status == "needs_diff" and run.queued_at is not None
    # Sent just now: nothing to do until something is lost again.
    assert services.sweep_stuck_runs() == {"requeued": 0, "failed": 0, "sent": 0}


def test_a_live_lease_is_left_alone_however_old_the_message(release, sent):
    run = needs_diff(release, "/slow", pipeline_attempts=1)
    queued(run, seconds_ago=3600)
    lease(run, "diff", seconds_left=20)
    assert services.sweep_stuck_runs() == {"requeued": 0, "failed": 0, "sent": 0}
    assert sent == []


def test_work_the_broker_lost_is_sent_again_unless_a_worker_holds_it(release, sent, monkeypatch):
    waiting, held = needs_diff(release, "/waiting"), needs_diff(release, "/held")
    queued(waiting, seconds_ago=5)
    queued(held, seconds_ago=5)
    lease(held, "diff")
    monkeypatch.setattr(pipeline, "broker_lost_messages", lambda: True)
    assert services.sweep_stuck_runs() == {"requeued": 1, "failed": 0, "sent": 1}
    assert sent == [(waiting.id, "diff")]


def test_an_unreachable_broker_is_checked_next_time(release, sent, monkeypatch):
    def down():
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(pipeline, "broker_lost_messages", down)
    run = needs_diff(release, "/r")
    queued(run, seconds_ago=5)
    assert services.sweep_stuck_runs() == {"requeued": 0, "failed": 0, "sent": 0}


@override_settings(STUCK_RUN_SECONDS=600)
def test_the_last_resort_sends_again_what_sat_unheld_past_the_deadline(release, sent):
    old, fresh = needs_diff(release, "/old"), needs_diff(release, "/fresh")
    queued(old, seconds_ago=601)
    queued(fresh, seconds_ago=60)
    assert services.sweep_stuck_runs()["requeued"] == 1
    assert sent == [(old.id, "diff")]


@override_settings(MAX_PIPELINE_ATTEMPTS=3)
def test_a_run_out_of_attempts_fails_and_its_release_finishes(release, sent):
    run = needs_diff(release, "/poison", pipeline_attempts=3)
    queued(run, seconds_ago=40)
    lease(run, "diff", seconds_left=-1)
    assert services.sweep_stuck_runs() == {"requeued": 0, "failed": 1, "sent": 0}
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.failure_reason == "diff did not finish after 3 attempts"
    release.refresh_from_db()
    assert release.status == "reviewing"
    assert sent == []


def test_the_sweeper_leaves_closed_releases_and_client_runs_alone(release, keyed, sent):
    closed = Release.objects.create(build=keyed.build, name="old", number=1, status="bad")
    queued(needs_diff(closed, "/old"), seconds_ago=7200)
    client_run = Run.objects.create(release=release, name="/upload", status="data_pending")
    queued(client_run, seconds_ago=7200)
    assert services.sweep_stuck_runs() == {"requeued": 0, "failed": 0, "sent": 0}
    assert sent == []


# --- leases ---------------------------------------------------------------------------------


def test_a_restarted_worker_frees_what_its_killed_process_held(release, sent):
    """Identities of real processes: one killed, one running, this one; and one of a host
    restarted since (another boot id)."""
    killed = subprocess.Popen(["sleep", "60"])
    killed_identity = procs.process_identity(killed.pid)
    killed.kill()
    killed.wait()
    running = subprocess.Popen(["sleep", "60"])
    try:
        mine = procs.process_identity()
        other_boot = "00000000-0000-0000-0000-000000000000" + mine[mine.index(":") :]
        holders = {
            "/killed": f"capture@host {killed_identity} t1",
            "/other-boot": f"capture@host {other_boot} t2",
            "/running": f"capture@host {procs.process_identity(running.pid)} t3",
            "/mine": scheduling.task_holder("capture@host", "t4"),
            "/other-worker": f"capture@other {killed_identity} t5",
            "/old-format": "capture@host t6",
        }
        assert killed_identity and procs.process_gone(killed_identity)
        assert not procs.process_gone(mine)
        runs = {}
        for name, holder in holders.items():
            runs[name] = needs_diff(release, name, pipeline_attempts=1)
            queued(runs[name])
            lease(runs[name], "diff", holder=holder, seconds_left=25)
        assert scheduling.free_leases_of_gone_predecessors("capture@host") == 2
        # The next sweep hands out the freed steps, and only those.
        assert services.sweep_stuck_runs()["requeued"] == 2
        freed = ("/killed", "/other-boot")
        assert sorted(sent) == sorted((runs[name].id, "diff") for name in freed)
        assert set(Lease.objects.values_list("run__name", flat=True)) == {
            "/running",
            "/mine",
            "/other-worker",
            "/old-format",
        }
    finally:
        running.kill()
        running.wait()


@override_settings(MAX_PIPELINE_ATTEMPTS=2)
def test_a_step_is_held_by_one_worker_and_attempts_are_counted(release):
    run = needs_diff(release, "/r")
    with scheduling.holding("worker-1 a") as step:
        assert services.claim_for_diff(run.id, step) is not None
        with scheduling.holding("worker-2 b") as other:
            assert services.claim_for_diff(run.id, other) is None  # a duplicate message: held
        assert Lease.objects.get().holder == "worker-1 a"
    assert not Lease.objects.exists()  # let go when the step ended
    assert services.claim_for_diff(run.id) is not None  # a redelivery after worker-1 died
    Lease.objects.all().delete()
    assert services.claim_for_diff(run.id) is None  # a third: out of attempts
    run.refresh_from_db()
    assert run.status == "failed"
    assert "did not finish after 2 attempts" in run.failure_reason


def test_an_expired_lease_does_not_stop_another_worker(release):
    run = needs_diff(release, "/r")
    lease(run, "diff", holder="dead-worker t", seconds_left=-1)
    with scheduling.holding("worker-2 b") as step:
        assert services.claim_for_diff(run.id, step) is not None
        assert Lease.objects.get().holder == "worker-2 b"


def test_the_sides_of_a_pair_are_held_apart(release, keyed):
    config = services.store_artifact_for(keyed.build, b"{}", "application/json")
    run = Run.objects.create(
        release=release,
        name="/pair",
        url="http://a",
        ref_url="http://b",
        config=config,
        ref_config=config,
    )
    with scheduling.holding("worker-1 a") as step:
        assert services.claim_for_capture(run.id, "run", step) is not None
    with scheduling.holding("worker-2 b") as step:
        assert services.claim_for_capture(run.id, "ref", step) is not None


@pytest.mark.django_db(transaction=True)
def test_a_lease_is_renewed_while_the_step_works(release):
    run = needs_diff(release, "/r")
    with scheduling.holding("worker-1 a", renew_every=0.1) as step:
        services.claim_for_diff(run.id, step)
        first = Lease.objects.get().until
        time.sleep(0.5)
        assert Lease.objects.get().until > first


def test_claim_skips_runs_that_need_no_diff(release):
    run = Run.objects.create(release=release, name="/r", status="diff_found")
    assert services.claim_for_diff(run.id) is None
    assert services.claim_for_diff(999999) is None


# --- turns ----------------------------------------------------------------------------------


def request(keyed, name, release="r1"):
    config = services.store_artifact_for(keyed.build, b"{}", "application/json")
    return services.request_run(
        access.Caller(),
        keyed.build,
        release_name=release,
        release_number=1,
        run_name=name,
        url=f"http://127.0.0.1:9{name}",
        config=config,
    )


@override_settings(BUILD_CAPTURES_IN_FLIGHT=2, BUILD_DIFFS_IN_FLIGHT=1)
def test_a_build_has_a_few_runs_in_flight_and_the_rest_wait_their_turn(
    make_build, sent, django_capture_on_commit_callbacks
):
    big, small = make_build("Big"), make_build("Small")
    for keyed in (big, small):
        services.create_release(access.Caller(), keyed.build, name="r1")
    with django_capture_on_commit_callbacks(execute=True):
        runs = [request(big, f"/{n}") for n in range(5)]
    assert sent == [(runs[0].id, ("run",)), (runs[1].id, ("run",))]
    with django_capture_on_commit_callbacks(execute=True):
        other = request(small, "/home")
    assert sent[-1] == (other.id, ("run",))  # the other build's work is not behind the big one
    # A capture ends (here: fails): the next run of that build takes the slot, oldest first.
    with django_capture_on_commit_callbacks(execute=True):
        services.fail_run(runs[0].id, "capture failed: gone")
    assert sent[-1] == (runs[2].id, ("run",))
    assert Run.objects.filter(queued_at__isnull=True, status="data_pending").count() == 2
    # The sweeper sends nothing more: the build's slots are full.
    assert services.sweep_stuck_runs()["sent"] == 0


@override_settings(MAX_RUNS_PER_RELEASE=3)
def test_a_release_has_a_bounded_number_of_runs(api, sent):
    api.create_release()
    for n in range(3):
        assert api.report(f"/{n}").status_code == 200
    response = api.report("/3")
    assert response.status_code == 400
    assert "DPXDT_MAX_RUNS_PER_RELEASE" in response.json()["error"]
    assert api.report("/1").status_code == 200  # an existing run may still be reported


# --- the broker's sentinel, against a real Redis that restarts -----------------------------


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_redis(port, folder):
    process = subprocess.Popen(redis_server_command(port, folder), stdout=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    raise AssertionError("redis-server did not start")


def test_on_redis_a_first_look_diff_goes_before_final_diffs_sent_earlier(tmp_path):
    port = _free_port()
    redis = _start_redis(port, tmp_path)
    try:
        with Connection(f"redis://127.0.0.1:{port}/0") as connection:
            for run_id, first_look in ((1, False), (2, False), (3, True), (4, False)):
                pipeline.diff_signature(run_id, first_look).apply_async(connection=connection)
            channel = connection.default_channel
            order = []
            while (message := channel.basic_get(queue="diff", no_ack=True)) is not None:
                order.append(message.decode()[0][0])  # the task's args: (run_id,)
        assert order == [3, 1, 2, 4]
    finally:
        redis.terminate()
        redis.wait()


def test_the_sentinel_notices_a_redis_that_lost_its_messages(tmp_path):
    port = _free_port()

    def start():
        return _start_redis(port, tmp_path)

    def lost():
        # With the key prefix the workers use: kombu's own existence check ignores it.
        options = {"global_keyprefix": "dpxdt-sentinel-test:"}
        connection = Connection(f"redis://127.0.0.1:{port}/0", transport_options=options)
        return pipeline.broker_lost_messages(connection)

    redis = start()
    try:
        assert lost() is True  # the first look: nothing there yet
        assert lost() is False
        assert lost() is False
        redis.terminate()
        redis.wait()
        redis = start()
        assert lost() is True
        assert lost() is False
    finally:
        redis.terminate()
        redis.wait()


def test_a_first_start_places_the_sentinel_quietly_and_a_loss_of_work_is_a_warning(
    release, sent, monkeypatch, caplog
):
    """A broker with no sentinel is a first start (or a restart while idle) unless work was
    sent to it and not taken: only then does the sweeper warn, naming how much."""
    monkeypatch.setattr(pipeline, "broker_lost_messages", lambda: True)
    with caplog.at_level("INFO"):
        services.sweep_stuck_runs()
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text
    run = needs_diff(release, "/sent")
    queued(run)
    caplog.clear()
    with caplog.at_level("INFO"):
        assert services.sweep_stuck_runs()["requeued"] == 1
    assert "the broker lost its messages (its sentinel is gone): the work of 1 runs" in (
        caplog.text
    )


@override_settings(BUILD_CAPTURES_IN_FLIGHT=1)
def test_a_cancelled_release_gives_its_slots_to_the_builds_other_work(
    keyed, sent, django_capture_on_commit_callbacks
):
    caller = access.Caller()
    first = services.create_release(caller, keyed.build, name="r1")
    services.create_release(caller, keyed.build, name="r2")
    with django_capture_on_commit_callbacks(execute=True):
        running = request(keyed, "/a", release="r1")
        waiting = request(keyed, "/b", release="r2")
    assert sent == [(running.id, ("run",))]
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_release(caller, first)
    assert sent[-1] == (waiting.id, ("run",))
