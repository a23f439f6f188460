//! A model of rsched's lease protocol for the `stateright` model checker (see
//! `docs/lease-model.md`): a shared store, a logical clock, scheduler instances that crash,
//! pause (SIGSTOP) or lose the store, checked by breadth-first search for at-most-once runs, no
//! lost fire times, `max_instances` across instances, the recovery of crashed runs, no record
//! left behind, and no live run taken over as crashed.

use stateright::{Checker, Model, Property};

/// Runs not recorded at once are recorded once they have lasted this long (`running::DEFER`:
/// a tick is a second).
const DEFER: u8 = 1;
/// Fire times per job at most: per-fire-time counters are indexed `job * MAX_FIRES + fire`.
const MAX_FIRES: usize = 4;
/// Counters: two jobs at most.
const SLOTS: usize = 2 * MAX_FIRES;

/// A job (`max_instances = 1`, `coalesce = true`): its fire times in ticks, increasing.
#[derive(Clone, Debug)]
struct JobCfg {
    fires: Vec<u8>,
    recover: bool,
    /// The trigger ends after the last fire time (a date trigger): the release removes the
    /// job. Otherwise the job fires again after the horizon.
    one_shot: bool,
}

fn job(fires: &[u8], recover: bool) -> JobCfg {
    let (fires, one_shot) = (fires.to_vec(), false);
    JobCfg {
        fires,
        recover,
        one_shot,
    }
}

/// What is checked: the system, the faults the environment may inject, the protocol variant.
#[derive(Clone, Debug)]
struct Cfg {
    /// Instances running from the start; instances that may join later.
    started: usize,
    joiners: usize,
    jobs: Vec<JobCfg>,
    /// `EngineOptions::lease` in ticks (the heartbeat, every `lease / 3`, runs every tick).
    lease: u8,
    /// `misfire_grace_time` in ticks (`None`: no limit).
    grace: Option<u8>,
    /// Crashes; disruptions: pauses (SIGSTOP, at most `max_pause` ticks) or store outages
    /// (at most `max_outage` ticks; 0: none). Faults start at ticks up to `fault_until`.
    crashes: u8,
    disruptions: u8,
    max_pause: u8,
    max_outage: u8,
    fault_until: u8,
    /// The clock stops here: late enough, after the last fault, for a lease of contact, the
    /// expiry of the records left and their reaping (12 for faults up to 4 and 3-tick outages).
    horizon: u8,
    /// The code: a run whose job fires again within this many ticks (or has `recover = true`)
    /// is recorded at once, the others after `DEFER`. The code has the lease (`engine::process`);
    /// 2 was the rule before (`IMMEDIATE_WITHIN`); `u8::MAX` records every run at once.
    immediate_within: u8,
    /// The code: a run starts only once its job's release was taken (`engine::commit`).
    /// False: the order before, runs submitted first and released after (a broken variant).
    commit_first: bool,
    /// The code: `take_over_run` is a compare-and-set (false: a broken variant).
    cas: bool,
    /// The code: `release_jobs` applies only for the lease holder (false: a broken variant).
    release_checks_owner: bool,
    /// The code: `end_runs` deletes only the caller's records, and the periodic reaper takes
    /// over only other instances' records (false: the code before, by run id and every
    /// expired record).
    own_records_only: bool,
    /// The code: `Running::counts` counts every record, expired or not, until a reaper
    /// handles it (false: the code before, only records with `expires > now`).
    count_expired: bool,
    /// The code: the periodic reaper reaps only once its instance has reached the store
    /// without a failure for a whole lease (`Running::may_reap`; false: the code before).
    reap_after_contact: bool,
    /// The code before: an instance that starts reaps every expired record at once
    /// (`recover_own_runs`), whatever its contact. False, the code: it takes over only the
    /// records under its own id (none, with a fresh id) and leaves the others to the periodic
    /// reaper (`reap`, `also_owner`).
    start_reaps_all: bool,
    /// The code: before counting, the engine deletes this instance's records of runs that
    /// ended (`Running::counts` → `end_locked`; if that fails, the pass fails). False: the code
    /// before, which subtracted them from the counts (`Ending`).
    end_before_count: bool,
    /// The code: a success after a gap of more than half a lease since the instance's last
    /// call restarts its contact count (`Running::contact`). Here: an instance paused
    /// (SIGSTOP) for more than half a lease counts its contact afresh when it resumes. False:
    /// the code before, whose contact counted from its first success, pause or not.
    contact_gap: bool,
    /// Only an instance that holds no run, record or pass pauses (a standby, or a scheduler
    /// paused by `pause()`): its own runs are not at stake.
    pause_idle_only: bool,
    /// A fault: `begin_runs` or `release_jobs` is applied but its answer is lost (a
    /// connection cut after the commit). Counted as a disruption.
    lost_answers: bool,
    /// Instances may join up to this tick (the store answering: `Scheduler::start` reads it);
    /// only once an instance has crashed when `join_replaces` (a replacement, with a fresh id).
    join_until: u8,
    join_replaces: bool,
}

impl Cfg {
    fn new(jobs: Vec<JobCfg>) -> Cfg {
        Cfg {
            started: 2,
            joiners: 0,
            jobs,
            lease: 4,
            grace: Some(1),
            crashes: 1,
            disruptions: 1,
            max_pause: 3,
            max_outage: 3,
            fault_until: 4,
            horizon: 12,
            immediate_within: 4,
            commit_first: true,
            cas: true,
            release_checks_owner: true,
            own_records_only: true,
            count_expired: true,
            reap_after_contact: true,
            start_reaps_all: false,
            end_before_count: true,
            contact_gap: true,
            pause_idle_only: false,
            lost_answers: false,
            join_until: 4,
            join_replaces: true,
        }
    }
}

/// A run record's id: the job, the fire time it runs (index) and the instance that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Rid {
    job: u8,
    fire: u8,
    by: u8,
}

/// A record of the store's runs in progress (`RunningRun`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Rec {
    id: Rid,
    owner: u8,
    expires: u8,
}

/// A job in the store: its next fire time (an index into `fires`; `fires.len()`: none left)
/// and its lease (owner, expiry).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
struct StoredJob {
    next: u8,
    lease: Option<(u8, u8)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
enum Status {
    #[default]
    NotStarted,
    Up,
    /// SIGSTOP since this tick: does nothing while time passes; its runs are frozen, not dead.
    Paused(u8),
    Crashed,
}

/// A run holding a `RunSlot`: planned (recorded, not yet released), released and about to be
/// submitted, or executing. `deferred`: `None` when its record is written, `Some(at)` when it
/// is to be written at `at`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Run {
    id: Rid,
    deferred: Option<u8>,
    recovery: bool,
}

/// A leased job as the pass planned it (`engine::Planned`): its release (the new next fire
/// time) and the run to start once the store has taken that release.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Plan {
    job: u8,
    next: u8,
    run: Option<Run>,
}

/// Where the instance's engine pass (`engine::process`) is, with what it read.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
enum Pass {
    #[default]
    Idle,
    /// Leases taken at clock `now`: (job, next fire time as read).
    Acquired { now: u8, jobs: Vec<(u8, u8)> },
    /// Counted, planned, runs recorded (`Running::begin`): the batch to commit.
    Planned(Vec<Plan>),
    /// Released (`release_jobs` returned): the runs whose release the store took, to submit.
    Committed(Vec<Run>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
struct Inst {
    status: Status,
    /// Resumed after a pause: its maintenance tick (heartbeat, then reap) is overdue.
    hb_due: bool,
    /// The engine failed on the store and backs off until the next tick.
    backoff: bool,
    pass: Pass,
    /// Batches the store could not take, with their runs (`StoreHealth::pending`).
    pending: Vec<Plan>,
    /// Runs executing.
    runs: Vec<Run>,
    /// Records of runs that ended while the store was down (`end_runs` retried), and whether
    /// the run had executed (not refused by the executor).
    ended: Vec<(Rid, bool)>,
    /// Expired records read by the reaper, taken over one by one: (id, owner, expires).
    reap: Vec<(Rid, u8, u8)>,
    /// How long it has reached the store without a failure (`Running::contact`), in ticks, at
    /// most a lease; `None` after a failure.
    contact: Option<u8>,
    /// Started, reaping at start (`recover_own_runs`): the engine has not started yet.
    starting: bool,
}

impl Inst {
    /// Every run holding a slot (`live > 0`: the heartbeat renews the instance's records).
    fn slots(&self) -> impl Iterator<Item = &Run> {
        let (planned, committed): (&[Plan], &[Run]) = match &self.pass {
            Pass::Planned(p) => (p, &[]),
            Pass::Committed(r) => (&[], r),
            _ => (&[], &[]),
        };
        let plans = planned.iter().chain(&self.pending);
        let plans = plans.filter_map(|p| p.run.as_ref());
        plans.chain(committed).chain(&self.runs)
    }
    fn slots_mut(&mut self) -> impl Iterator<Item = &mut Run> {
        let (planned, committed): (&mut [Plan], &mut [Run]) = match &mut self.pass {
            Pass::Planned(p) => (p, &mut []),
            Pass::Committed(r) => (&mut [], r),
            _ => (&mut [], &mut []),
        };
        let plans = planned.iter_mut().chain(self.pending.iter_mut());
        let plans = plans.filter_map(|p| p.run.as_mut());
        plans
            .chain(committed.iter_mut())
            .chain(self.runs.iter_mut())
    }
}

/// What happened, for the properties; never read by the protocol. Per (job, fire time).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
struct Ghost {
    /// Runs started by the engine; recovery runs started by a reaper.
    runs: [u8; SLOTS],
    reruns: [u8; SLOTS],
    /// Runs executing when their instance crashed; runs that had ended but whose record was
    /// not yet deleted then (the end of a run and its record's deletion are two steps).
    cut_off: [u8; SLOTS],
    unended: [u8; SLOTS],
    /// Runs released but not yet submitted when their instance crashed: lost by design (a
    /// crash at the start of the run), recovered when recorded and `recover = true`.
    dropped: [u8; SLOTS],
    /// Ran, or reported as missed, coalesced or skipped (`max_instances`), or dropped.
    accounted: [bool; SLOTS],
    /// A crash left the record of a run that was planned but not released (never started).
    orphaned: bool,
    lease_lost: bool,
    cas_refused: bool,
    /// Instances that were ever paused (a bit each).
    paused: u8,
    /// A reaper took over the record of a run held by an instance that is up and was never
    /// paused (planned, kept, executing, or ended with its record not yet deleted).
    live_taken: bool,
    /// An instance took over a record as it started (`recover_own_runs`).
    start_taken: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    now: u8,
    /// The store is unreachable since this tick.
    down: Option<u8>,
    jobs: Vec<StoredJob>,
    recs: Vec<Rec>,
    insts: Vec<Inst>,
    crashes: u8,
    disruptions: u8,
    ghost: Ghost,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Action {
    Tick,
    /// `acquire_due_jobs` (after the pending batches: `RetryPending`).
    Acquire(u8),
    /// `running_counts`, `dispatch`, `Running::begin` (`begin_runs`).
    Dispatch(u8),
    /// `engine::commit`: `release_jobs`; `RetryPending` for the batches kept.
    Commit(u8),
    /// `begin_runs` applied, its answer lost: the pass fails (`lost_answers`).
    DispatchLost(u8),
    /// `release_jobs` applied, its answer lost; the retry at once (`lost_answers`).
    CommitLost(u8),
    RetryPending(u8),
    /// `engine::commit` after `release_jobs`: `submit` the runs whose release was taken.
    Start(u8),
    /// `record_deferred_runs`.
    WriteDeferred(u8),
    /// `heartbeat_runs` when a paused instance resumes (live ones renew at each tick).
    Heartbeat(u8),
    /// A run ends: its slot drops, `end_runs` deletes the record; `EndRecords` retries.
    Finish(u8, Rid),
    EndRecords(u8),
    /// `reap`: `expired_runs`, then `take_over_run` record by record.
    ReapRead(u8),
    TakeOver(u8),
    Crash(u8),
    Pause(u8),
    Resume(u8),
    Join(u8),
    StoreDown,
    StoreUp,
}

struct LeaseModel(Cfg);

/// An instance's index as an owner id.
fn id(i: usize) -> u8 {
    u8::try_from(i).unwrap_or(u8::MAX)
}

fn slot(j: u8, f: u8) -> usize {
    usize::from(j) * MAX_FIRES + usize::from(f)
}

impl LeaseModel {
    fn job(&self, j: u8) -> &JobCfg {
        &self.0.jobs[usize::from(j)]
    }
    fn fire(&self, j: u8, f: u8) -> Option<u8> {
        self.job(j).fires.get(usize::from(f)).copied()
    }
    /// `lookup_job` finds it: not removed by its last release.
    fn exists(&self, s: &State, j: u8) -> bool {
        !self.job(j).one_shot || self.fire(j, s.jobs[usize::from(j)].next).is_some()
    }
    /// Jobs `acquire_due_jobs` hands out now: due, lease free or expired.
    fn due<'a>(&'a self, s: &'a State) -> impl Iterator<Item = u8> + 'a {
        (0..s.jobs.len()).map(id).filter(move |&j| {
            let sj = &s.jobs[usize::from(j)];
            self.fire(j, sj.next).is_some_and(|t| t <= s.now)
                && sj.lease.is_none_or(|(_, exp)| exp <= s.now)
        })
    }
    fn deferred_due(s: &State, i: usize) -> bool {
        let mut slots = s.insts[i].slots();
        slots.any(|r| r.deferred.is_some_and(|at| at <= s.now))
    }
    /// What a live instance does before the clock moves on: the engine acts on due jobs and
    /// finishes its pass; the maintenance task writes deferred records, ends records, reaps.
    fn urgent(&self, s: &State, i: usize) -> bool {
        let n = &s.insts[i];
        let up = s.down.is_none();
        n.status == Status::Up
            && (n.hb_due
                || n.pass != Pass::Idle
                || up
                    && (!n.ended.is_empty()
                        || !n.reap.is_empty()
                        || Self::deferred_due(s, i)
                        || !n.backoff && (!n.pending.is_empty() || self.due(s).next().is_some())
                        || self.reapable(s, i).next().is_some()))
    }
    /// The expired records instance `i`'s periodic reaper handles (`expired_runs`), none
    /// until it may reap (`Running::may_reap`).
    fn reapable<'a>(&self, s: &'a State, i: usize) -> impl Iterator<Item = &'a Rec> {
        let all = !self.0.own_records_only;
        let contact = s.insts[i].contact.is_some_and(|k| k >= self.0.lease);
        let may = contact || !self.0.reap_after_contact;
        let expired = s.recs.iter().filter(move |r| may && r.expires < s.now);
        expired.filter(move |r| all || r.owner != id(i))
    }
    /// The end of a check: clock stopped, store up, nothing urgent, some instance up.
    fn settled(&self, s: &State) -> bool {
        s.now == self.0.horizon
            && s.down.is_none()
            && (0..s.insts.len()).all(|i| !self.urgent(s, i))
            && s.insts.iter().any(|n| n.status == Status::Up)
    }
    /// (job, counter index) of every fire time.
    fn fire_slots(&self) -> impl Iterator<Item = (u8, usize)> + '_ {
        let jobs = (0..self.0.jobs.len()).map(id);
        jobs.flat_map(|j| (0..self.job(j).fires.len()).map(move |f| (j, slot(j, id(f)))))
    }

    /// Instance `i`'s executor: refuses a run when the job has a run here (`max_instances`),
    /// reports a run time later than the grace time as missed (not for a recovery), else
    /// starts the run.
    fn start(&self, s: &mut State, i: usize, run: Run) -> bool {
        let (j, f) = (run.id.job, run.id.fire);
        let busy = s.insts[i].runs.iter().any(|r| r.id.job == j);
        let late = s.now.saturating_sub(self.fire(j, f).unwrap_or(0));
        let g = &mut s.ghost;
        if !run.recovery {
            g.accounted[slot(j, f)] = true; // run, or reported skipped or missed
        }
        if busy || !run.recovery && self.0.grace.is_some_and(|g| late > g) {
            return false;
        }
        let counter = if run.recovery {
            &mut g.reruns
        } else {
            &mut g.runs
        };
        counter[slot(j, f)] += 1;
        s.insts[i].runs.push(run);
        s.insts[i].runs.sort();
        true
    }

    /// `submit`: the executor starts the run, or refuses it and the slot drops, which ends
    /// its record (`end_runs`, kept for later while the store is down).
    fn submit(&self, s: &mut State, i: usize, run: Run) {
        let (rid, written) = (run.id, run.deferred.is_none());
        if !self.start(s, i, run) && written {
            if s.down.is_none() {
                self.end_records(s, i, &[rid]);
            } else {
                s.insts[i].ended.push((rid, false));
            }
        }
    }

    /// `end_runs`: deletes the records by run id (only the caller's with `own_records_only`).
    fn end_records(&self, s: &mut State, i: usize, ids: &[Rid]) {
        let mine = |r: &Rec| !self.0.own_records_only || r.owner == id(i);
        s.recs.retain(|r| !(ids.contains(&r.id) && mine(r)));
    }

    /// `engine::process` after `acquire_due_jobs`, with the pass's `now`: `running_counts`,
    /// `dispatch` and `Running::begin`. The order before (`commit_first = false`) also
    /// submitted the runs here.
    fn plan(&self, s: &mut State, i: usize, now: u8, jobs: Vec<(u8, u8)>) -> Vec<Plan> {
        let mut plans = vec![];
        if self.0.end_before_count {
            // `Running::counts`: `end_locked` first (the store answers here; it fails with the
            // store down, and so does the pass).
            let ended = std::mem::take(&mut s.insts[i].ended);
            let ids: Vec<Rid> = ended.into_iter().map(|(r, _)| r).collect();
            self.end_records(s, i, &ids);
        }
        for (j, first) in jobs {
            // Coalesced: the latest due fire time runs, the earlier ones are reported missed.
            let mut last = first;
            while self.fire(j, last + 1).is_some_and(|t| t <= now) {
                last += 1;
            }
            (first..last).for_each(|f| s.ghost.accounted[slot(j, f)] = true);
            let next = last + 1;
            // `Running::counts` while holding the lease: a run in progress → skipped. With
            // `count_expired`, every record counts (the code before `end_before_count` less
            // this instance's ended runs whose records were still to be deleted, `Ending`).
            let counts = |r: &Rec| r.expires > now || self.0.count_expired;
            let recs = s.recs.iter().filter(|r| r.id.job == j && counts(r)).count();
            let ended = s.insts[i].ended.iter().filter(|(r, _)| r.job == j).count();
            let ending = if self.0.count_expired { ended } else { 0 };
            if recs > ending {
                s.ghost.accounted[slot(j, last)] = true;
                plans.push(Plan {
                    job: j,
                    next,
                    run: None,
                });
                continue;
            }
            let soon = self
                .fire(j, next)
                .is_some_and(|t| t <= now.saturating_add(self.0.immediate_within));
            let immediate = soon || self.job(j).recover;
            let rid = Rid {
                job: j,
                fire: last,
                by: id(i),
            };
            if immediate {
                let expires = now + self.0.lease;
                s.recs.push(Rec {
                    id: rid,
                    owner: id(i),
                    expires,
                });
            }
            let run = Run {
                id: rid,
                deferred: (!immediate).then_some(now + DEFER),
                recovery: false,
            };
            plans.push(Plan {
                job: j,
                next,
                run: Some(run),
            });
        }
        s.recs.sort();
        if !self.0.commit_first {
            for run in plans.iter_mut().filter_map(|p| p.run.take()) {
                self.submit(s, i, run);
            }
        }
        plans
    }

    /// `release_jobs`: applies for the lease holder, else `LeaseLost`. Returns the runs to
    /// submit: those whose release was taken. The others' slots drop, ending their records.
    fn commit(&self, s: &mut State, i: usize, plans: Vec<Plan>) -> Vec<Run> {
        let mut runs = vec![];
        for Plan { job: j, next, run } in plans {
            let sj = &mut s.jobs[usize::from(j)];
            if sj.lease.is_some_and(|l| l.0 == id(i)) || !self.0.release_checks_owner {
                *sj = StoredJob { next, lease: None };
                runs.extend(run);
            } else {
                s.ghost.lease_lost = true;
                if let Some(run) = run.filter(|r| r.deferred.is_none()) {
                    self.end_records(s, i, &[run.id]);
                }
            }
        }
        runs
    }

    /// `take_over_run` of the next record read, then the crashed run's handling.
    fn take_over(&self, s: &mut State, i: usize) {
        let (rid, owner, expires) = s.insts[i].reap.remove(0);
        let starting = s.insts[i].starting;
        s.insts[i].starting &= !s.insts[i].reap.is_empty();
        let cas = self.0.cas;
        let same = |r: &&mut Rec| r.id == rid && (!cas || (r.owner, r.expires) == (owner, expires));
        let Some(rec) = s.recs.iter_mut().find(same) else {
            s.ghost.cas_refused = true; // another instance took it, or its owner renewed it
            return;
        };
        let n = &s.insts[usize::from(owner)];
        let held = n.slots().any(|r| r.id == rid) || n.ended.iter().any(|e| e.0 == rid);
        if n.status == Status::Up && held && s.ghost.paused & (1 << owner) == 0 {
            s.ghost.live_taken = true;
        }
        s.ghost.start_taken |= starting;
        (rec.owner, rec.expires) = (id(i), s.now + self.0.lease);
        let run = Run {
            id: rid,
            deferred: None,
            recovery: true,
        };
        let j = rid.job;
        if !(self.job(j).recover && self.exists(s, j) && self.start(s, i, run)) {
            // Reported as crashed, not run again: the slot drops, the record ends.
            s.recs.retain(|r| r.id != rid);
        }
        s.recs.sort();
    }
}

impl Model for LeaseModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let c = &self.0;
        let inst = |i| Inst {
            status: if i < c.started {
                Status::Up
            } else {
                Status::NotStarted
            },
            contact: (i < c.started).then_some(0),
            ..Inst::default()
        };
        vec![State {
            now: 0,
            down: None,
            jobs: vec![StoredJob::default(); c.jobs.len()],
            recs: vec![],
            insts: (0..c.started + c.joiners).map(inst).collect(),
            crashes: 0,
            disruptions: 0,
            ghost: Ghost::default(),
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        let c = &self.0;
        let up = s.down.is_none();
        let faults = s.now <= c.fault_until;
        let disrupt = faults && s.disruptions < c.disruptions;
        // Time stops for nobody: a pause or outage ends within its bound, and a live instance
        // does its urgent work first.
        let paused_long = s.insts.iter().any(|n| match n.status {
            Status::Paused(since) => s.now - since >= c.max_pause,
            _ => false,
        });
        let down_long = s.down.is_some_and(|since| s.now - since >= c.max_outage);
        let busy = (0..s.insts.len()).any(|i| self.urgent(s, i));
        if s.now < c.horizon && !paused_long && !down_long && !busy {
            actions.push(Action::Tick);
        }
        match s.down {
            None if disrupt && c.max_outage > 0 => actions.push(Action::StoreDown),
            Some(since) if s.now > since => actions.push(Action::StoreUp),
            _ => {}
        }
        for (i, n) in s.insts.iter().enumerate() {
            let me = id(i);
            match n.status {
                Status::NotStarted
                    if up && s.now <= c.join_until && (s.crashes > 0 || !c.join_replaces) =>
                {
                    actions.push(Action::Join(me));
                }
                Status::Paused(since) if s.now > since => actions.push(Action::Resume(me)),
                _ => {}
            }
            let alive = matches!(n.status, Status::Up | Status::Paused(_));
            if alive && faults && s.crashes < c.crashes {
                actions.push(Action::Crash(me));
            }
            if n.status != Status::Up {
                continue;
            }
            let idle = n.pass == Pass::Idle
                && n.pending.is_empty()
                && n.ended.is_empty()
                && n.slots().next().is_none();
            if disrupt && c.max_pause > 0 && (idle || !c.pause_idle_only) {
                actions.push(Action::Pause(me));
            }
            if n.hb_due {
                actions.push(Action::Heartbeat(me));
            }
            actions.extend(n.runs.iter().map(|r| Action::Finish(me, r.id)));
            match &n.pass {
                Pass::Acquired { .. } if up && disrupt && c.lost_answers => {
                    actions.push(Action::Dispatch(me));
                    actions.push(Action::DispatchLost(me));
                }
                Pass::Acquired { .. } => actions.push(Action::Dispatch(me)),
                Pass::Planned(_) if up && disrupt && c.lost_answers => {
                    actions.push(Action::Commit(me));
                    actions.push(Action::CommitLost(me));
                }
                Pass::Planned(_) => actions.push(Action::Commit(me)),
                Pass::Committed(_) => actions.push(Action::Start(me)),
                Pass::Idle if !up || n.starting => {}
                Pass::Idle if !n.pending.is_empty() => actions.push(Action::RetryPending(me)),
                Pass::Idle if self.due(s).next().is_some() => actions.push(Action::Acquire(me)),
                Pass::Idle => {}
            }
            if !up {
                continue;
            }
            if !n.ended.is_empty() {
                actions.push(Action::EndRecords(me));
            }
            if Self::deferred_due(s, i) {
                actions.push(Action::WriteDeferred(me));
            }
            let expired = self.reapable(s, i).next().is_some();
            if !n.reap.is_empty() {
                actions.push(Action::TakeOver(me));
            } else if expired && !n.hb_due && n.ended.is_empty() {
                actions.push(Action::ReapRead(me)); // `maintain`: end, heartbeat, then reap
            }
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut s = last.clone();
        let up = s.down.is_none();
        let (now, lease) = (s.now, self.0.lease);
        match action {
            Action::Tick => {
                s.now += 1;
                for (i, n) in s.insts.iter_mut().enumerate() {
                    n.backoff = false;
                    n.hb_due = matches!(n.status, Status::Paused(_));
                    // Contact: a live instance calls the store at least each tick (the engine
                    // polls every `max_poll_interval`, the heartbeat or reaper every
                    // `lease / 3`); a paused one calls nothing, but its time goes on.
                    n.contact = n.contact.map(|k| (k + 1).min(lease));
                    if n.status == Status::Up {
                        n.contact = if up { n.contact.or(Some(0)) } else { None };
                    }
                    // A live instance renews its records every `lease / 3`: here at each tick,
                    // before anything else (no other step could tell the difference).
                    if n.status == Status::Up && up && n.slots().next().is_some() {
                        let mine = s.recs.iter_mut().filter(|r| r.owner == id(i));
                        mine.for_each(|r| r.expires = now + 1 + lease);
                    }
                }
            }
            Action::StoreDown => {
                s.down = Some(now);
                s.disruptions += 1;
            }
            Action::StoreUp => s.down = None,
            Action::Join(i) => {
                // `Scheduler::start`: `recover_own_runs` reaps before the engine starts (only
                // this id's records: none, with a fresh id). Its `expired_runs` call, then the
                // engine's first acquire, start the contact count.
                let all = self.0.start_reaps_all;
                let expired = s
                    .recs
                    .iter()
                    .filter(|r| (r.expires < now && all) || r.owner == i);
                let reap: Vec<_> = expired.map(|r| (r.id, r.owner, r.expires)).collect();
                let n = &mut s.insts[usize::from(i)];
                (n.status, n.starting, n.reap) = (Status::Up, !reap.is_empty(), reap);
                n.contact = Some(0);
            }
            Action::Resume(i) => {
                // `Running::contact`: its first call (the overdue `Heartbeat`, or the reaper's
                // or the engine's) comes after a gap at least as long as the pause; more than
                // half a lease restarts the count (if that call fails, `Heartbeat` drops it).
                // A shorter pause may also restart it in the code, by the calls' phase: here
                // it never does, which reaps sooner.
                let n = &mut s.insts[usize::from(i)];
                let Status::Paused(since) = n.status else {
                    return None;
                };
                n.status = Status::Up;
                if self.0.contact_gap && 2 * (now - since) > lease {
                    n.contact = Some(0);
                }
            }
            Action::Pause(i) => {
                s.insts[usize::from(i)].status = Status::Paused(now);
                s.disruptions += 1;
                s.ghost.paused |= 1 << i;
            }
            Action::Crash(i) => {
                // The process dies with its runs; its leases and records stay in the store.
                let n = std::mem::take(&mut s.insts[usize::from(i)]);
                s.insts[usize::from(i)].status = Status::Crashed;
                let g = &mut s.ghost;
                for r in &n.runs {
                    g.cut_off[slot(r.id.job, r.id.fire)] += 1;
                }
                for (r, _) in n.ended.iter().filter(|(_, ran)| *ran) {
                    g.unended[slot(r.job, r.fire)] += 1;
                }
                let (planned, committed) = match n.pass {
                    Pass::Planned(p) => (p, vec![]),
                    Pass::Committed(r) => (vec![], r),
                    _ => (vec![], vec![]),
                };
                for r in committed {
                    g.dropped[slot(r.id.job, r.id.fire)] += 1;
                    g.accounted[slot(r.id.job, r.id.fire)] = true;
                }
                let mut unreleased = planned.iter().chain(&n.pending);
                if unreleased.any(|p| p.run.as_ref().is_some_and(|r| r.deferred.is_none())) {
                    g.orphaned = true;
                }
                s.crashes += 1;
            }
            Action::Acquire(i) => {
                let mut jobs = vec![];
                for j in self.due(last) {
                    let sj = &mut s.jobs[usize::from(j)];
                    sj.lease = Some((i, now + lease));
                    jobs.push((j, sj.next));
                }
                let n = &mut s.insts[usize::from(i)];
                n.pass = Pass::Acquired { now, jobs };
                n.contact = n.contact.or(Some(0));
            }
            Action::Dispatch(i) => {
                let n = &mut s.insts[usize::from(i)];
                let Pass::Acquired { now, jobs } = std::mem::take(&mut n.pass) else {
                    return None;
                };
                if up {
                    let plans = self.plan(&mut s, usize::from(i), now, jobs);
                    s.insts[usize::from(i)].pass = Pass::Planned(plans);
                } else {
                    n.backoff = true; // nothing ran; the leases expire
                }
            }
            Action::Commit(i) | Action::RetryPending(i) => {
                let n = &mut s.insts[usize::from(i)];
                let plans = match std::mem::take(&mut n.pass) {
                    Pass::Planned(p) => p,
                    _ => std::mem::take(&mut n.pending),
                };
                if up {
                    let runs = self.commit(&mut s, usize::from(i), plans);
                    if !runs.is_empty() {
                        s.insts[usize::from(i)].pass = Pass::Committed(runs);
                    }
                } else {
                    // Kept with their runs, committed first once the store answers.
                    n.pending.extend(plans);
                    n.backoff = true;
                }
            }
            Action::DispatchLost(i) => {
                // The records are written, the answer is lost: `Running::begin` fails before
                // it makes the slots. The pass ends; its leases expire.
                s.disruptions += 1;
                let n = &mut s.insts[usize::from(i)];
                let Pass::Acquired { now, jobs } = std::mem::take(&mut n.pass) else {
                    return None;
                };
                n.backoff = true;
                self.plan(&mut s, usize::from(i), now, jobs);
            }
            Action::CommitLost(i) => {
                // The store takes the releases, the answer is lost; the retry at once finds
                // every lease dropped (`LeaseLost`): no run starts, and their slots drop.
                s.disruptions += 1;
                let Pass::Planned(plans) = std::mem::take(&mut s.insts[usize::from(i)].pass) else {
                    return None;
                };
                let runs = self.commit(&mut s, usize::from(i), plans);
                let written = runs.iter().filter(|r| r.deferred.is_none());
                let ids: Vec<Rid> = written.map(|r| r.id).collect();
                self.end_records(&mut s, usize::from(i), &ids);
                s.ghost.lease_lost = true;
            }
            Action::Start(i) => {
                let Pass::Committed(runs) = std::mem::take(&mut s.insts[usize::from(i)].pass)
                else {
                    return None;
                };
                for run in runs {
                    self.submit(&mut s, usize::from(i), run);
                }
            }
            Action::WriteDeferred(i) => {
                for r in s.insts[usize::from(i)].slots_mut() {
                    if r.deferred.is_some_and(|at| at <= now) {
                        r.deferred = None;
                        let expires = now + lease;
                        s.recs.push(Rec {
                            id: r.id,
                            owner: i,
                            expires,
                        });
                    }
                }
                s.recs.sort();
            }
            Action::Heartbeat(i) => {
                let n = &mut s.insts[usize::from(i)];
                n.hb_due = false;
                if !up {
                    n.contact = None; // its first calls fail
                }
                if up && n.slots().next().is_some() {
                    let mine = s.recs.iter_mut().filter(|r| r.owner == i);
                    mine.for_each(|r| r.expires = now + lease);
                }
            }
            Action::Finish(i, rid) => {
                let n = &mut s.insts[usize::from(i)];
                let at = n.runs.iter().position(|r| r.id == rid)?;
                if n.runs.remove(at).deferred.is_some() {
                    // Never recorded: nothing to end.
                } else if up {
                    self.end_records(&mut s, usize::from(i), &[rid]);
                } else {
                    n.ended.push((rid, true));
                }
            }
            Action::EndRecords(i) => {
                let ended = std::mem::take(&mut s.insts[usize::from(i)].ended);
                let ids: Vec<Rid> = ended.into_iter().map(|(r, _)| r).collect();
                self.end_records(&mut s, usize::from(i), &ids);
            }
            Action::ReapRead(i) => {
                let expired = self.reapable(&s, usize::from(i));
                let read = expired.map(|r| (r.id, r.owner, r.expires)).collect();
                s.insts[usize::from(i)].reap = read;
            }
            Action::TakeOver(i) => self.take_over(&mut s, usize::from(i)),
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        type M = LeaseModel;
        vec![
            // (a) A fire time runs at most once: the engine starts it once at most, and every
            // further run (a recovery) repeats a run cut off by a crash.
            Property::always(AT_MOST_ONCE, |m: &M, s: &State| {
                let g = &s.ghost;
                let once = |k: usize| {
                    g.runs[k] <= 1 && g.runs[k] + g.reruns[k] <= 1 + g.cut_off[k] + g.unended[k]
                };
                m.fire_slots().all(|(_, k)| once(k))
            }),
            // (b) At the end, every fire time ran or was reported missed, coalesced or skipped
            // (or was dropped by a crash at its start).
            Property::always(NO_LOST_FIRE, |m: &M, s: &State| {
                !m.settled(s) || m.fire_slots().all(|(_, k)| s.ghost.accounted[k])
            }),
            // (c) Runs of a job executing at once on all instances, paused ones included, are
            // at most `max_instances` (1).
            Property::always(MAX_INSTANCES, |_, s: &State| {
                let live = s
                    .insts
                    .iter()
                    .filter(|n| matches!(n.status, Status::Up | Status::Paused(_)));
                let mut jobs: Vec<u8> = live.flat_map(|n| &n.runs).map(|r| r.id.job).collect();
                jobs.sort_unstable();
                jobs.windows(2).all(|w| w[0] != w[1])
            }),
            // (d) At the end, a fire time of a `recover = true` job whose run was cut off or
            // dropped by a crash has a run that was not cut off (it finished or still runs).
            Property::always(RECOVERED, |m: &M, s: &State| {
                let g = &s.ghost;
                let ok = |k: usize| {
                    g.cut_off[k] + g.dropped[k] == 0 || g.runs[k] + g.reruns[k] > g.cut_off[k]
                };
                !m.settled(s) || m.fire_slots().all(|(j, k)| !m.job(j).recover || ok(k))
            }),
            // (e) A recovery run keeps its record while it executes (it counts against
            // `max_instances` and is renewed).
            Property::always(RECORD_KEPT, |_, s: &State| {
                let live = s
                    .insts
                    .iter()
                    .filter(|n| matches!(n.status, Status::Up | Status::Paused(_)));
                let mut recoveries = live.flat_map(|n| &n.runs).filter(|r| r.recovery);
                recoveries.all(|r| s.recs.iter().any(|rec| rec.id == r.id))
            }),
            // (f) At the end, every record is held by a run of its live owner: none is left to
            // count against `max_instances` for good.
            Property::always(NO_STALE_RECORD, |m: &M, s: &State| {
                let held = |r: &Rec| {
                    let n = &s.insts[usize::from(r.owner)];
                    matches!(n.status, Status::Up | Status::Paused(_))
                        && n.slots().any(|x| x.id == r.id)
                };
                !m.settled(s) || s.recs.iter().all(held)
            }),
            // (g) No reaper takes over the record of a run held by an instance that is up and
            // was never paused: the run goes on (a pause past the lease is a crash, by design).
            Property::always(LIVE_NOT_TAKEN, |_, s: &State| !s.ghost.live_taken),
            // Examples: the faults do bite (the model is not vacuous).
            Property::sometimes(CUT_OFF, |_, s: &State| {
                s.ghost.cut_off.iter().any(|&n| n > 0)
            }),
            Property::sometimes(RERUN, |_, s: &State| s.ghost.reruns.iter().any(|&n| n > 0)),
            Property::sometimes(ORPHANED, |_, s: &State| s.ghost.orphaned),
            Property::sometimes(DROPPED, |_, s: &State| {
                s.ghost.dropped.iter().any(|&n| n > 0)
            }),
            Property::sometimes(LEASE_LOST, |_, s: &State| s.ghost.lease_lost),
            Property::sometimes(CAS_REFUSED, |_, s: &State| s.ghost.cas_refused),
            Property::sometimes(START_TAKEN, |_, s: &State| s.ghost.start_taken),
            Property::sometimes(SETTLED, |m: &M, s: &State| m.settled(s)),
        ]
    }
}

const AT_MOST_ONCE: &str = "(a) a fire time runs at most once";
const NO_LOST_FIRE: &str = "(b) no fire time is lost";
const MAX_INSTANCES: &str = "(c) max_instances across instances";
const RECOVERED: &str = "(d) crashed runs of recover = true jobs run again";
const RECORD_KEPT: &str = "(e) a recovery run keeps its record";
const NO_STALE_RECORD: &str = "(f) no record is left behind";
const LIVE_NOT_TAKEN: &str = "(g) no live instance's record is taken over";
const SAFETY: [&str; 7] = [
    AT_MOST_ONCE,
    NO_LOST_FIRE,
    MAX_INSTANCES,
    RECOVERED,
    RECORD_KEPT,
    NO_STALE_RECORD,
    LIVE_NOT_TAKEN,
];
const CUT_OFF: &str = "a run is cut off by a crash";
const RERUN: &str = "a crashed run runs again";
const ORPHANED: &str = "a crash leaves the record of a run not yet released";
const DROPPED: &str = "a crash drops a released run before it starts";
const LEASE_LOST: &str = "a stale release gets LeaseLost";
const CAS_REFUSED: &str = "a takeover loses the compare-and-set";
const START_TAKEN: &str = "an instance takes over a record as it starts";
const SETTLED: &str = "the clock stops with an instance up";

/// Checks `cfg` by BFS on every core, printing the states explored and the time taken, then
/// asserts: every safety property holds but those in `fails`, which are violated (their
/// counterexamples printed); every example in `seen` is found.
fn verify(name: &str, cfg: &Cfg, fails: &[&'static str], seen: &[&'static str]) {
    let start = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let checker = LeaseModel(cfg.clone())
        .checker()
        .threads(threads)
        .spawn_bfs()
        .join();
    let (states, unique) = (checker.state_count(), checker.unique_state_count());
    let elapsed = start.elapsed();
    let violated: Vec<&str> = SAFETY
        .into_iter()
        .filter(|p| checker.discovery(p).is_some())
        .collect();
    println!("{name}: {states} states explored ({unique} unique) in {elapsed:.1?}");
    println!("{name}: violated {violated:?}");
    if std::env::var_os("LEASE_MODEL_EXPLORE").is_some() {
        for p in &violated {
            println!("{name}: counterexample to \"{p}\":");
            for (state, action) in checker.discovery(p).unwrap().into_vec() {
                if let Some(action) = action.filter(|a| !matches!(a, Action::Heartbeat(_))) {
                    println!("  t={} {action:?}", state.now);
                }
            }
        }
        return;
    }
    for p in SAFETY.into_iter().filter(|p| !fails.contains(p)) {
        checker.assert_no_discovery(p);
    }
    for &p in fails {
        let path = checker.assert_any_discovery(p);
        println!("{name}: counterexample to \"{p}\":");
        for (state, action) in path.into_vec() {
            if let Some(action) = action.filter(|a| !matches!(a, Action::Heartbeat(_))) {
                println!("  t={} {action:?}", state.now);
            }
        }
    }
    for &p in seen {
        checker.assert_any_discovery(p);
    }
}

/// The protocol as the code has it (commit `b907042`) holds (a)–(g) within its assumptions
/// (see the doc): two instances and a replacement that may join after a crash, up to two
/// crashes, a pause or outage of up to 3 ticks (lease 4); a `recover = true` job firing every
/// tick (recorded at once) with a job whose runs are recorded after `DEFER` (it fires again
/// more than a lease later) or at once (it fires again within the lease). Crashes fall between
/// recording and releasing and between releasing and starting.
#[test]
fn lease_protocol_holds() {
    let seen = [CUT_OFF, RERUN, CAS_REFUSED, SETTLED, ORPHANED, DROPPED];
    let mut c = Cfg::new(vec![job(&[1, 2, 3], true), job(&[1, 6], false)]);
    (c.joiners, c.crashes, c.join_until) = (1, 2, 6);
    verify("deferred records, 3-tick disruption", &c, &[], &seen);
    let mut c = Cfg::new(vec![job(&[1, 2, 3], true), job(&[1, 4], false)]);
    (c.joiners, c.crashes, c.join_until) = (1, 2, 6);
    verify("records at once, 3-tick disruption", &c, &[], &seen);
    let mut c = Cfg::new(vec![job(&[1, 2, 3], true)]);
    (c.started, c.crashes) = (3, 2);
    verify("three instances, two crashes", &c, &[], &seen);
}

/// An instance paused (SIGSTOP) past the lease resumes on stale state: its release gets
/// `LeaseLost` and its planned run does not start, and with `recover = false` nothing runs
/// twice. But its frozen run is presumed dead once reaped: the job runs beside it (c), and
/// with `recover = true` it is run again (a). By design: such a pause looks like a crash.
#[test]
fn paused_past_the_lease() {
    let mut c = Cfg::new(vec![job(&[1, 6], false)]);
    (c.crashes, c.max_pause, c.max_outage, c.horizon) = (0, 6, 0, 14);
    verify("paused past the lease", &c, &[MAX_INSTANCES], &[LEASE_LOST]);
    c.jobs[0].recover = true;
    let fails = [AT_MOST_ONCE, MAX_INSTANCES];
    verify("paused past the lease, recover", &c, &fails, &[LEASE_LOST]);
}

/// Broken variant: a takeover that is not a compare-and-set lets two instances recover the
/// same crashed run (with the code's compare-and-set, the same system holds).
#[test]
fn broken_takeover_without_compare_and_set_runs_twice() {
    let mut c = Cfg::new(vec![job(&[1, 2], true)]);
    (c.started, c.disruptions) = (3, 0);
    verify("compare-and-set", &c, &[], &[RERUN, CAS_REFUSED]);
    c.cas = false;
    let fails = [AT_MOST_ONCE, MAX_INSTANCES, RECORD_KEPT];
    verify("no compare-and-set", &c, &fails, &[]);
}

/// Broken variant: a release that does not check the lease lets an instance paused past it
/// put back a fire time another instance ran, which then runs again (with the check, (a)
/// holds: `paused_past_the_lease`).
#[test]
fn broken_release_without_lease_check_runs_twice() {
    let mut c = Cfg::new(vec![job(&[1, 6], false)]);
    (c.crashes, c.max_pause, c.max_outage, c.horizon) = (0, 6, 0, 14);
    c.release_checks_owner = false;
    let fails = [AT_MOST_ONCE, MAX_INSTANCES];
    verify("release without lease check", &c, &fails, &[]);
}

/// Finding 1, fixed in part: a run recorded after `DEFER` is not counted elsewhere until then.
/// With the rule before (recorded at once only when the job fires again within 2 ticks), a pause or
/// outage of 2 ticks lets the next fire time, 3 ticks later, start beside it. With the code's
/// rule (within the lease) the same system holds. A job firing again more than a lease later
/// still breaks (c) with a stall of a full lease that holds up the deferred write; a run
/// recorded at once no longer does, since its expired record counts (it did before).
#[test]
fn deferred_records_within_the_lease() {
    let mut c = Cfg::new(vec![job(&[1, 4], false)]);
    (c.max_pause, c.max_outage) = (2, 2);
    verify("fires 3 ticks apart, 2-tick disruption", &c, &[], &[]);
    c.immediate_within = 2;
    let fails = [MAX_INSTANCES];
    verify(
        "fires 3 ticks apart, rule before, 2-tick disruption",
        &c,
        &fails,
        &[],
    );
    let mut c = Cfg::new(vec![job(&[1, 6], false)]);
    (c.crashes, c.max_pause, c.max_outage, c.horizon) = (0, 3, 3, 14);
    verify("fires 5 ticks apart, 3-tick disruption", &c, &[], &[]);
    (c.max_pause, c.max_outage) = (4, 4);
    verify("fires 5 ticks apart, 4-tick disruption", &c, &fails, &[]);
    c.immediate_within = u8::MAX;
    verify("all at once, 4-tick disruption", &c, &[], &[]);
    c.count_expired = false;
    verify("all at once, 4-tick disruption, expiry", &c, &fails, &[]);
}

/// Formerly finding 2: runs were submitted before their job's release; after a crash in
/// between, the fire time was still due when the lease expired and ran again, unless
/// `misfire_grace_time` < lease. Commit-first (a run starts only once its release is taken)
/// holds in the same systems; the order before (`commit_first = false`) is caught.
#[test]
fn crash_before_release_runs_once() {
    let mut c = Cfg::new(vec![job(&[1, 2], false)]);
    (c.disruptions, c.grace) = (0, None);
    verify("misfire_grace_time = None", &c, &[], &[CUT_OFF, DROPPED]);
    c.grace = Some(c.lease);
    verify("misfire_grace_time = lease", &c, &[], &[CUT_OFF, DROPPED]);
    c.grace = None;
    c.commit_first = false;
    let caught = [AT_MOST_ONCE];
    verify("run first, misfire_grace_time = None", &c, &caught, &[]);
    // After an outage past the lease: the batch kept for later gets `LeaseLost` if another
    // instance took the job first, and its run does not start.
    (
        c.crashes,
        c.disruptions,
        c.max_pause,
        c.max_outage,
        c.horizon,
    ) = (0, 1, 0, 5, 14);
    c.commit_first = true;
    let seen = [LEASE_LOST];
    verify("misfire_grace_time = None, outage", &c, &[], &seen);
    c.commit_first = false;
    let caught = [AT_MOST_ONCE, MAX_INSTANCES];
    verify(
        "run first, misfire_grace_time = None, outage",
        &c,
        &caught,
        &[],
    );
}

/// Formerly finding 3: a store outage longer than the lease expires every record, and the
/// first reaper after it took live runs over as crashed (no crash, no pause), while the next
/// fire time started beside them. Now an expired record counts until it is reaped, and an
/// instance reaps only after a lease of contact: every live owner has renewed by then. The
/// code before is caught, and so is each fix alone.
#[test]
fn outage_past_the_lease_keeps_live_runs() {
    let mut c = Cfg::new(vec![job(&[1, 2, 3], true)]);
    (c.crashes, c.max_pause, c.max_outage, c.horizon) = (0, 0, 6, 16);
    verify("outage past the lease", &c, &[], &[LEASE_LOST]);
    c.reap_after_contact = false;
    let fails = [AT_MOST_ONCE, MAX_INSTANCES, LIVE_NOT_TAKEN];
    verify("outage past the lease, reaping at once", &c, &fails, &[]);
    (c.count_expired, c.own_records_only) = (false, false);
    let fails = [AT_MOST_ONCE, MAX_INSTANCES, RECORD_KEPT, LIVE_NOT_TAKEN];
    verify("outage past the lease, code before", &c, &fails, &[]);
    // `recover = false`, a record written at once: the live run counts, and the next fire
    // time is skipped. Not counting expired records, it starts beside the live run.
    c.jobs = vec![job(&[1, 2, 9], false)];
    (c.immediate_within, c.reap_after_contact) = (u8::MAX, true);
    (c.count_expired, c.own_records_only) = (true, true);
    verify("outage past the lease, no recover", &c, &[], &[]);
    c.count_expired = false;
    verify(
        "outage past the lease, no recover, expiry",
        &c,
        &[MAX_INSTANCES],
        &[],
    );
}

/// Formerly finding 4 (second part): a job that started a run after a crashed run's record
/// expired, and before a reaper took it, blocked the recovery (the executor refused it) or,
/// on a third instance, ran beside it. Expired records now count until reaped: the fire time
/// that meets one is skipped, and the recovery runs. Counting only live records is caught.
#[test]
fn fire_time_after_the_expiry_waits_for_the_reaper() {
    let mut c = Cfg::new(vec![job(&[1, 5], true)]);
    c.disruptions = 0;
    verify("fire time after the expiry", &c, &[], &[CUT_OFF, RERUN]);
    c.started = 3;
    verify("fire time after the expiry, 3 instances", &c, &[], &[RERUN]);
    c.count_expired = false;
    let fails = [MAX_INSTANCES, RECOVERED];
    verify(
        "fire time after the expiry, 3 instances, before",
        &c,
        &fails,
        &[],
    );
    c.started = 2;
    verify("fire time after the expiry, before", &c, &[RECOVERED], &[]);
}

/// Finding 4 (first part), remaining: a one-shot (date) job is removed by its release, so a
/// reaper that takes over its crashed run finds no job (`lookup_job`) and cannot run it again.
#[test]
fn finding_one_shot_job_is_not_recovered() {
    let mut c = Cfg::new(vec![job(&[1], true)]);
    (c.jobs[0].one_shot, c.disruptions) = (true, 0);
    verify("one-shot job", &c, &[RECOVERED], &[CUT_OFF]);
}

/// Formerly finding 5: `end_runs` deleted a record by run id, whoever owned it. When a run
/// taken over as crashed (its instance was paused past the lease) ended, it deleted the record
/// of the recovery run, which then counted against no `max_instances` (e). `end_runs` now
/// deletes only the caller's records, and (e) holds; (a) and (c) fail there by design
/// (`paused_past_the_lease`). Deleting by run id is caught.
#[test]
fn end_runs_keeps_a_taken_over_record() {
    let mut c = Cfg::new(vec![job(&[1, 6], true)]);
    (c.crashes, c.max_pause, c.max_outage, c.horizon) = (0, 6, 0, 14);
    let fails = [AT_MOST_ONCE, MAX_INSTANCES];
    verify("end_runs of the caller's records", &c, &fails, &[]);
    c.own_records_only = false;
    let fails = [AT_MOST_ONCE, MAX_INSTANCES, RECORD_KEPT];
    verify("end_runs by run id", &c, &fails, &[]);
}

/// Formerly finding 6: a crash between `begin_runs` and `release_jobs` leaves the record of a
/// run that never started, and the job's fire time still due. The lease and the record expire
/// at the same tick: the instance taking the job over counted no run and ran the fire time,
/// and a reaper recovered the record of a `recover = true` job, running it again (with no
/// misfire limit). The expired record now counts: the fire time is skipped there, and the
/// recovery runs it once. Counting only live records is caught.
#[test]
fn orphaned_record_runs_once() {
    let mut c = Cfg::new(vec![job(&[1, 2], true)]);
    (c.disruptions, c.grace) = (0, None);
    let seen = [ORPHANED, RERUN];
    verify("orphaned record, no misfire limit", &c, &[], &seen);
    c.count_expired = false;
    // (d) fails too: the run of the next fire time blocks the recovery (finding 4).
    let fails = [AT_MOST_ONCE, RECOVERED];
    verify("orphaned record, no misfire limit, before", &c, &fails, &[]);
}

/// Formerly finding 7: an instance paused (SIGSTOP, or `pause()`) through a store outage saw
/// no failure: its contact counted from before the pause, so it reaped as soon as it resumed,
/// before the live owners renewed the records the outage let expire. An instance that holds no
/// run pauses (its own runs are not at stake). Now a gap of more than half a lease since the
/// last call restarts the count (and `resume()` always does): (a)–(g) hold. The code before
/// (`contact_gap: false`) fails (a), (c) and (g).
#[test]
fn pause_across_an_outage_keeps_live_runs() {
    let mut c = Cfg::new(vec![job(&[1, 2, 3], true)]);
    (c.crashes, c.disruptions, c.max_pause, c.max_outage) = (0, 2, 6, 5);
    (c.pause_idle_only, c.horizon) = (true, 16);
    verify("pause across an outage", &c, &[], &[]);
    c.contact_gap = false;
    let fails = [AT_MOST_ONCE, MAX_INSTANCES, LIVE_NOT_TAKEN];
    verify("pause across an outage, code before", &c, &fails, &[]);
}

/// Formerly finding 8: an instance that started reaped every expired record at once
/// (`recover_own_runs`), whatever its contact. Started just after an outage past the lease, it
/// took over the live runs whose records expired, before their owners renewed them. Now it
/// takes over only the records under its own id at start (none, with a fresh id): (a)–(g)
/// hold. The code before (`start_reaps_all`) is caught.
#[test]
fn start_after_an_outage_keeps_live_runs() {
    let mut c = Cfg::new(vec![job(&[1, 2, 3], true)]);
    (c.crashes, c.max_pause, c.max_outage, c.horizon) = (0, 0, 6, 16);
    (c.joiners, c.join_replaces, c.join_until) = (1, false, 11);
    verify("start after an outage", &c, &[], &[]);
    c.start_reaps_all = true;
    let fails = [AT_MOST_ONCE, MAX_INSTANCES, LIVE_NOT_TAKEN];
    verify(
        "start after an outage, code before",
        &c,
        &fails,
        &[START_TAKEN],
    );
}

/// Finding 9: a store call applied whose answer is lost. `release_jobs`: the retry finds the
/// lease gone (`LeaseLost`), so the run does not start and the fire time is lost without a
/// report (b). `begin_runs`: the pass fails, and the record it wrote belongs to no run; its
/// owner never ends it and its own reaper skips it, so with one instance it blocks the job for
/// good (f), each later fire time skipped. With two, the other instance reaps it.
#[test]
fn finding_lost_answers() {
    let mut c = Cfg::new(vec![job(&[1, 2], true)]);
    (c.crashes, c.lost_answers, c.horizon) = (0, true, 10);
    verify("lost answers", &c, &[NO_LOST_FIRE], &[LEASE_LOST]);
    c.started = 1;
    verify(
        "lost answers, one instance",
        &c,
        &[NO_LOST_FIRE, NO_STALE_RECORD],
        &[],
    );
}

/// Formerly finding 10: the engine subtracted this instance's ended runs whose records were
/// still to be deleted (`Ending`), so after a failed `end_runs` the job's next run started
/// while the ended run's record was still in the store. A crash before the retry left two
/// records for one run at a time: a reaper recovered the ended run, and the executor refused
/// the one that was cut off (d); on two reapers the two recoveries ran side by side (c). Now
/// the engine deletes those records before it counts (and its pass fails if it cannot):
/// (a)–(g) hold. The code before (`end_before_count: false`) is caught.
#[test]
fn ended_record_is_deleted_before_the_count() {
    let mut c = Cfg::new(vec![job(&[1, 2, 3], true)]);
    (c.started, c.max_pause, c.max_outage) = (3, 0, 2);
    verify("ended record, 3 instances", &c, &[], &[RERUN]);
    c.end_before_count = false;
    let fails = [MAX_INSTANCES, RECOVERED];
    verify("ended record, 3 instances, code before", &c, &fails, &[]);
    c.started = 2;
    verify("ended record, code before", &c, &[RECOVERED], &[]);
}
