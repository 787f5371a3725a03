//! Many phones on one machine checking together (a test lab, the simulator): [`Lab::check_all`]
//! gives every phone exactly what its own [`Phone::check`] would, while doing once what is the
//! same for all of them.
//!
//! # What is shared, and what stays each phone's own
//! Shared: the configuration files and the list (one download per URL, validated once per group
//! of phones with the same server, region and trusted keys); each listed file (downloaded and
//! read once, verified once per group that needs it); and each key's RPIs, derived once into one
//! table of the new keys (a filter over all their RPIs, and a sorted index naming the key of
//! each). Keys and sightings are joined once: every phone's sightings stream through that table,
//! each probed once, and each hit is routed to the phone that heard it. The cost is sightings
//! plus keys, never phones times keys.
//!
//! The table is built on the keys' side because a check's new keys are far fewer than a city's
//! sightings (a day of a 100,000-phone city: about 2 million RPIs, against some 150 million
//! sightings): an index of every phone's sightings would be a second copy of most of the
//! city's memory, rebuilt at each check, while the keys' table (about 5 KiB per key, at most
//! [`DEFAULT_KEYS_PER_BATCH`] keys at once) stays in the last-level cache. `examples/lab_scale.rs`
//! measures it.
//!
//! Each phone's own, by the same code as [`Phone::check`]: its settings and watermark (so which
//! listed files are new *for it*: phones installed on different days, or one that already
//! processed a file, match different files), the exact evaluation of the keys its probe hit
//! (against its sightings of those keys' RPIs, all of them, by the engine's code), the files
//! that failed for it (recorded and retried at its next check), exposure windows, daily
//! summaries, the notification rule, and the single commit of its results. A phone whose storage fails gets its own error; the others
//! go on. A group whose configuration or list cannot be used fails for each of its phones as
//! their own checks would.

use crate::error::Error;
use crate::http::{Http, NetworkError, Response};
use crate::matching::shared::KeyTable;
use crate::matching::SightingIndex;
use crate::phone::{
    download_file, parse_file, verifiers, verify_file, CheckReport, FileOutcome, Phone,
    PhoneSettings, Plan, Published,
};
use crate::storage::Storage;
use crate::types::KeyMatch;
use gaen::{DiagnosisKey, ExportVerifier};
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// Keys whose RPIs are held at once by default (up to 2.4 million RPIs, some 80 MiB): a day of
/// a city of 100,000 phones in one pass over the sightings.
pub const DEFAULT_KEYS_PER_BATCH: usize = 16_384;

/// Checks many phones at once, sharing downloads, verification and RPI derivation.
#[derive(Debug)]
pub struct Lab {
    /// Threads to run on (0: one per available core).
    threads: usize,
    /// Started at the first check; `None` if it could not be (the current rayon pool is used).
    pool: std::sync::OnceLock<Option<rayon::ThreadPool>>,
    keys_per_batch: usize,
}

impl Default for Lab {
    fn default() -> Self {
        Self::new()
    }
}

impl Lab {
    /// A lab using every core.
    pub fn new() -> Self {
        Self {
            threads: 0,
            pool: std::sync::OnceLock::new(),
            keys_per_batch: DEFAULT_KEYS_PER_BATCH,
        }
    }

    /// Runs on `threads` threads (0: one per available core). If they cannot be started, the
    /// current rayon pool is used.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self.pool = std::sync::OnceLock::new();
        self
    }

    /// Holds the RPIs of at most `keys` keys at once (at least 1): more keys mean fewer passes
    /// over the phones' sightings, and more memory (about 5 KiB per full-day key).
    pub fn with_keys_per_batch(mut self, keys: usize) -> Self {
        self.keys_per_batch = keys.clamp(1, 1 << 24);
        self
    }

    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let pool = self.pool.get_or_init(|| {
            let threads = match self.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("lab-{i}"))
                .build()
                .ok()
        });
        match pool {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }

    /// An exposure check of every phone at `now`: for each phone (in order) what
    /// [`Phone::check`] would have answered and stored, with what is the same for all phones
    /// fetched and computed once. HTTP runs on the calling thread; matching, scoring and the
    /// commits on the lab's threads.
    pub fn check_all<S: Storage + Send>(
        &self,
        phones: &mut [Phone<S>],
        now: i64,
        http: &dyn Http,
    ) -> Vec<Result<CheckReport, Error>> {
        // Stage 1: settings, grouped; what each group's server publishes; each phone's plan.
        // A phone whose stored settings are the first readable phone's, byte for byte, has its
        // settings (most often every phone): only the others are read and parsed.
        let reference = phones
            .iter()
            .find_map(|p| Some((p.raw_settings().ok()?, p.settings().ok()?)));
        // `None`: the reference's settings.
        let settings: Vec<Result<Option<PhoneSettings>, Error>> = self.run(|| {
            phones
                .par_iter_mut()
                .map(|p| match &reference {
                    Some((raw, _)) if p.has_raw_settings(raw)? => Ok(None),
                    _ => p.settings().map(Some),
                })
                .collect()
        });
        let memo = Memo::new(http);
        let mut groups: Vec<Group> = Vec::new();
        let mut group_of: HashMap<(String, String, Vec<String>), usize> = HashMap::new();
        let mut reference_group: Option<usize> = None;
        let membership: Vec<Result<usize, Error>> = settings
            .into_iter()
            .map(|s| {
                let (s, from_reference) = match s? {
                    Some(s) => (s, false),
                    None => {
                        if let Some(group) = reference_group {
                            groups[group].ready()?;
                            return Ok(group);
                        }
                        (reference.as_ref().expect("a reference").1.clone(), true)
                    }
                };
                let PhoneSettings {
                    server_url,
                    region,
                    public_keys_pem,
                    tx_power_dbm,
                } = s;
                let id = (server_url, region, public_keys_pem);
                let group = match group_of.get(&id) {
                    Some(&group) => group,
                    None => {
                        let settings = PhoneSettings {
                            server_url: id.0.clone(),
                            region: id.1.clone(),
                            public_keys_pem: id.2.clone(),
                            tx_power_dbm,
                        };
                        groups.push(Group::new(settings, &memo));
                        group_of.insert(id, groups.len() - 1);
                        groups.len() - 1
                    }
                };
                if from_reference {
                    reference_group = Some(group);
                }
                groups[group].ready()?;
                Ok(group)
            })
            .collect();
        let mut states: Vec<State> = {
            let groups = &groups;
            self.run(|| {
                phones
                    .par_iter_mut()
                    .zip(membership)
                    .map(|(phone, group)| {
                        let group = group?;
                        let g = &groups[group];
                        let plan = phone.plan(&g.settings, &g.published()?.list)?;
                        Ok(Planned {
                            group,
                            plan,
                            slots: Vec::new(),
                            found: Vec::new(),
                        })
                    })
                    .collect()
            })
        };

        // The files any phone needs, each once (a slot each), oldest first.
        let mut needed: Vec<Vec<bool>> =
            groups.iter().map(|g| vec![false; g.slots.len()]).collect();
        for planned in states.iter().flatten() {
            for &i in &planned.plan.to_do {
                needed[planned.group][i] = true;
            }
        }
        let mut first_listed: HashMap<&str, i64> = HashMap::new();
        for (group, needed) in groups.iter().zip(&needed) {
            let Some(Ok(published)) = &group.published else {
                continue;
            };
            for (entry, _) in published.list.iter().zip(needed).filter(|e| *e.1) {
                let created = first_listed.entry(entry.url.as_str()).or_insert(i64::MAX);
                *created = (*created).min(entry.created);
            }
        }
        let mut urls: Vec<(i64, &str)> = first_listed.into_iter().map(|(u, c)| (c, u)).collect();
        urls.sort_unstable();
        let slot_of: HashMap<&str, u32> = urls
            .iter()
            .enumerate()
            .map(|(slot, (_, url))| (*url, slot as u32))
            .collect();
        let mut files: Vec<File> = urls
            .iter()
            .map(|(_, url)| File {
                url: (*url).to_owned(),
                groups: Vec::new(),
                answer: Err(String::new()),
            })
            .collect();
        let group_slots: Vec<Vec<u32>> = groups
            .iter()
            .zip(&needed)
            .map(|(group, needed)| match &group.published {
                Some(Ok(published)) => published
                    .list
                    .iter()
                    .zip(needed)
                    .map(|(e, &needed)| {
                        if needed {
                            slot_of[e.url.as_str()]
                        } else {
                            NOT_NEEDED
                        }
                    })
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        drop(slot_of);
        for (group, slots) in groups.iter_mut().zip(group_slots) {
            group.slots = slots;
        }
        for planned in states.iter_mut().flatten() {
            let slots = &groups[planned.group].slots;
            planned.slots = planned.plan.to_do.iter().map(|&i| slots[i]).collect();
            planned.slots.sort_unstable();
            for &slot in &planned.slots {
                files[slot as usize].groups.push(planned.group);
            }
        }

        // Stage 2 once per file (verification once per group that needs it); stage 3's probe
        // once per batch of keys, over every phone's sightings.
        let groups = &groups;
        let mut batch: Vec<(u32, Vec<DiagnosisKey>)> = Vec::new();
        let mut batch_keys = 0;
        for slot in 0..files.len() {
            let file = &mut files[slot];
            file.groups.sort_unstable();
            file.groups.dedup();
            let (answer, keys) = check_file(http, &file.url, &file.groups, groups);
            file.answer = answer;
            if let Some(keys) = keys {
                batch_keys += keys.len();
                batch.push((slot as u32, keys));
            }
            if batch_keys >= self.keys_per_batch || slot + 1 == files.len() {
                self.probe(phones, &mut states, &files, &std::mem::take(&mut batch));
                batch_keys = 0;
            }
        }

        // Stages 2 and 3 as each phone's own plan sees them, and stage 4.
        let files = &files;
        self.run(|| {
            phones
                .par_iter_mut()
                .zip(states)
                .map(|(phone, state)| {
                    let Planned {
                        group, plan, found, ..
                    } = state?;
                    let mut by_file: BTreeMap<u32, Vec<(u32, KeyMatch)>> = BTreeMap::new();
                    for (slot, key, m) in found {
                        by_file.entry(slot).or_default().push((key, m));
                    }
                    let g = &groups[group];
                    let published = g.published()?;
                    let done = plan.run(&published.list, |i, _| {
                        let slot = g.slots[i];
                        let keys = files[slot as usize].usable(group)?;
                        let mut matches = by_file.remove(&slot).unwrap_or_default();
                        matches.sort_by_key(|(key, _)| *key);
                        Ok(FileOutcome {
                            keys,
                            matches: matches.into_iter().map(|(_, m)| m).collect(),
                        })
                    });
                    phone.commit_check(now, published, done)
                })
                .collect()
        })
    }

    /// Stage 3 for one batch of files: every planned phone that needs one of them probes its
    /// sightings against the batch's key table (one table per `keys_per_batch` keys), then
    /// evaluates exactly, against all its sightings, the keys it hit.
    fn probe<S: Storage + Send>(
        &self,
        phones: &mut [Phone<S>],
        states: &mut [State],
        files: &[File],
        batch: &[(u32, Vec<DiagnosisKey>)],
    ) {
        let mut tags: Vec<(u32, u32)> = Vec::new();
        let mut keys: Vec<&DiagnosisKey> = Vec::new();
        for (slot, file_keys) in batch {
            for (i, key) in file_keys.iter().enumerate() {
                tags.push((*slot, i as u32));
                keys.push(key);
            }
        }
        for (tags, keys) in tags
            .chunks(self.keys_per_batch)
            .zip(keys.chunks(self.keys_per_batch))
        {
            let mut slots: Vec<u32> = tags.iter().map(|t| t.0).collect();
            slots.dedup();
            self.run(|| {
                let table = KeyTable::new(keys);
                phones
                    .par_iter_mut()
                    .zip(states.par_iter_mut())
                    .for_each(|(phone, state)| {
                        let Ok(planned) = state else { return };
                        let wanted = |slot: u32| {
                            planned.slots.binary_search(&slot).is_ok()
                                && files[slot as usize].is_usable(planned.group)
                        };
                        if !slots.iter().any(|&s| wanted(s)) {
                            return;
                        }
                        match probe_phone(phone, &table, tags, wanted) {
                            Ok(found) => planned.found.extend(found),
                            Err(e) => *state = Err(e),
                        }
                    });
            });
        }
    }
}

/// An exposure check of every phone on every core: [`Lab::check_all`] of a new [`Lab`].
pub fn check_all<S: Storage + Send>(
    phones: &mut [Phone<S>],
    now: i64,
    http: &dyn Http,
) -> Vec<Result<CheckReport, Error>> {
    Lab::new().check_all(phones, now, http)
}

/// One phone's probe of a key table: the keys it may have heard of the files it wants, each
/// evaluated exactly. Returns (file slot, key position, match).
///
/// The exact evaluation runs on an index of the phone's sightings of the RPIs that hit, not of
/// all its sightings: the evaluation of a key reads only the sightings of its own RPIs (each
/// RPI's sightings in time order, the first of them starting the replay cut), and every
/// sighting of an RPI of a key the probe names is among those that hit (the table holds all of
/// the key's RPIs, and its filter has no false negatives). So the index holds, for every RPI
/// the evaluation asks for, exactly what the phone's full index holds: the same sightings in
/// the same order, and the answer is the same.
fn probe_phone<S: Storage>(
    phone: &Phone<S>,
    table: &KeyTable<'_>,
    tags: &[(u32, u32)],
    wanted: impl Fn(u32) -> bool,
) -> Result<Vec<(u32, u32, KeyMatch)>, Error> {
    let storage = phone.storage();
    let (mut hits, mut heard) = (Vec::new(), Vec::new());
    storage.visit_rpis(&mut |rpis| table.probe(rpis, &mut hits, &mut heard))?;
    hits.sort_unstable();
    hits.dedup();
    hits.retain(|&k| wanted(tags[k as usize].0));
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    heard.sort_unstable();
    heard.dedup();
    let mut of_heard = Vec::new();
    storage.visit_sightings(&mut |sightings| {
        of_heard.extend(
            sightings
                .iter()
                .filter(|s| heard.binary_search(&s.rpi).is_ok()),
        );
    })?;
    let index = SightingIndex::new(&of_heard);
    Ok(hits
        .into_iter()
        .filter_map(|k| {
            let (slot, position) = tags[k as usize];
            table.evaluate(&index, k).map(|m| (slot, position, m))
        })
        .collect())
}

/// Stage 2 of one file: downloaded and read once, verified for each group that needs it.
/// Returns the answer and, if any group may use the file, its keys.
fn check_file(
    http: &dyn Http,
    url: &str,
    needed_by: &[usize],
    groups: &[Group],
) -> (Result<Checked, String>, Option<Vec<DiagnosisKey>>) {
    let file = match download_file(http, url).and_then(parse_file) {
        Ok(file) => file,
        Err(reason) => return (Err(reason), None),
    };
    let verified: Vec<(usize, Result<(), String>)> = needed_by
        .iter()
        .map(|&g| {
            let verifiers = groups[g]
                .verifiers
                .as_ref()
                .expect("only groups with verifiers plan files");
            (g, verify_file(&file, verifiers))
        })
        .collect();
    let keys = file.export.keys.len() as u64;
    let usable = verified.iter().any(|(_, v)| v.is_ok());
    (
        Ok(Checked { keys, verified }),
        usable.then_some(file.export.keys),
    )
}

/// Phones with the same server, region and trusted keys.
struct Group {
    settings: PhoneSettings,
    verifiers: Result<Vec<ExportVerifier>, Error>,
    /// `None` when the verifiers failed (a phone's check stops there, before any download).
    published: Option<Result<Published, Error>>,
    /// Per entry of the published list: the slot of its file, or [`NOT_NEEDED`] when no phone
    /// of the group plans it.
    slots: Vec<u32>,
}

/// The slot of a listed file no phone plans.
const NOT_NEEDED: u32 = u32::MAX;

impl Group {
    fn new(settings: PhoneSettings, http: &dyn Http) -> Self {
        let verifiers = verifiers(&settings);
        let published = verifiers.is_ok().then(|| Published::fetch(http, &settings));
        let listed = match &published {
            Some(Ok(published)) => published.list.len(),
            _ => 0,
        };
        Self {
            settings,
            verifiers,
            published,
            slots: vec![NOT_NEEDED; listed],
        }
    }

    /// Whether the group's phones get past stage 1's shared part (else its error).
    fn ready(&self) -> Result<(), Error> {
        self.published().map(drop)
    }

    fn published(&self) -> Result<&Published, Error> {
        match (&self.verifiers, &self.published) {
            (Err(e), _) => Err(e.clone()),
            (Ok(_), Some(Ok(published))) => Ok(published),
            (Ok(_), Some(Err(e))) => Err(e.clone()),
            (Ok(_), None) => unreachable!("a group with verifiers has fetched"),
        }
    }
}

/// A phone past stage 1.
struct Planned {
    group: usize,
    plan: Plan,
    /// The file slots of its plan, ascending.
    slots: Vec<u32>,
    /// What its probes found: (file slot, key position in the file, match).
    found: Vec<(u32, u32, KeyMatch)>,
}

type State = Result<Planned, Error>;

/// A file some phone needs.
struct File {
    url: String,
    /// The groups of the phones that need it.
    groups: Vec<usize>,
    /// Its keys' count and verification per group, or why it could not be downloaded or read.
    answer: Result<Checked, String>,
}

struct Checked {
    keys: u64,
    verified: Vec<(usize, Result<(), String>)>,
}

impl File {
    /// Whether the phones of `group` may use the file.
    fn is_usable(&self, group: usize) -> bool {
        self.answer.as_ref().is_ok_and(|checked| {
            checked
                .verified
                .iter()
                .any(|(g, v)| *g == group && v.is_ok())
        })
    }

    /// The file's key count if the phones of `group` may use it, else why not.
    fn usable(&self, group: usize) -> Result<u64, String> {
        let checked = self.answer.as_ref().map_err(Clone::clone)?;
        match checked.verified.iter().find(|(g, _)| *g == group) {
            Some((_, Ok(()))) => Ok(checked.keys),
            Some((_, Err(reason))) => Err(reason.clone()),
            None => Err("not planned for this phone".into()),
        }
    }
}

/// GETs answered once per URL (the configuration and the lists, shared by groups).
struct Memo<'h> {
    http: &'h dyn Http,
    answers: RefCell<HashMap<String, Result<Response, NetworkError>>>,
}

impl<'h> Memo<'h> {
    fn new(http: &'h dyn Http) -> Self {
        Self {
            http,
            answers: RefCell::new(HashMap::new()),
        }
    }
}

impl Http for Memo<'_> {
    fn get(&self, url: &str) -> Result<Response, NetworkError> {
        if let Some(answer) = self.answers.borrow().get(url) {
            return answer.clone();
        }
        let answer = self.http.get(url);
        self.answers
            .borrow_mut()
            .insert(url.to_owned(), answer.clone());
        answer
    }

    fn put_json(&self, url: &str, body: &[u8]) -> Result<Response, NetworkError> {
        self.http.put_json(url, body)
    }
}
