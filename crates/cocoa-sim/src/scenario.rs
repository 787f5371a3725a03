//! The scenario: every parameter of the simulated city, read from TOML, with its meaning, its
//! default and the source of the default. Defaults copy the project's fact sheet on Japan in 2022
//! (`shared/spec/population.md`, cited by section as "facts §N" with the original source); values
//! the sheet does not have are marked "assumption". Nothing here is read at run time from outside
//! the scenario.
//!
//! Age-indexed parameters are arrays of 9, in the survey's age-group order: 1 = 14 or under,
//! 2 = 15-19, 3 = 20-24, 4 = 25-29, 5 = 30-39, 6 = 40-49, 7 = 50-59, 8 = 60-69, 9 = 70 or over.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::time::{Date, Day, MINUTES_PER_DAY};

/// A value per survey age group (index 0 = group 1, ..., index 8 = group 9).
pub type ByAge = [f64; 9];

/// Everything that defines a simulated city and its year. `Default` is Japan in 2022 over the
/// survey's period; [`Scenario::preset_demo`] is the demo city.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Seed of every random draw: the same seed and scenario give the same city and events.
    /// Default 2022.
    pub seed: u64,
    /// Day 0 of the simulation. Default 2022-04-07, the first day of the survey's daily data
    /// (facts §6: "the final survey collected daily notification data from 2022-04-07 on").
    pub start_date: Date,
    /// Number of simulated days. Default 269: 2022-04-07 to 2022-12-31, the day the survey closed
    /// (cocoa-wire.md §5: "The survey ran until 2022-12-31 23:59:59 JST").
    pub days: u32,
    /// Number of people in the city (not phones: about 0.31 COCOA phones per person with the
    /// defaults, see [`Scenario::expected_cocoa_phones_per_person`]). Default 32,000.
    pub population: u32,
    /// `[ages]`: the age pyramid.
    pub ages: Ages,
    /// `[households]`: household sizes.
    pub households: Households,
    /// `[commuting]`: who commutes, and on what.
    pub commuting: Commuting,
    /// `[phones]`: smartphones, COCOA, install dates, phones left at home.
    pub phones: Phones,
    /// `[contacts.*]`: each setting's contacts (and the planted effect).
    pub contacts: Contacts,
    /// `[disease]`: natural history and transmission.
    pub disease: Disease,
    /// `[imports]`: infections from outside the city.
    pub imports: Imports,
    /// `[care]`: tests, results, registration.
    pub care: Care,
    /// `[behaviour]`: contact changes after a notification, with symptoms, in isolation.
    pub behaviour: Behaviour,
    /// `[survey]`: participation and per-item consent by age.
    pub survey: Survey,
    /// `[radio]`: attenuation per scan and the scan interval.
    pub radio: Radio,
    /// Periods that change activity: holidays (no work or school), school holidays, states of
    /// emergency (a multiplier below 1). Overlapping periods multiply. Default: Japan's 2022
    /// national holidays from the start date on, Obon, the usual school summer and winter
    /// holidays, the year-end closing. No state of emergency or priority measures were in force
    /// in Japan after 2022-03-21 (public record), so none is listed; add one to simulate it.
    pub activity: Vec<ActivityPeriod>,
}

/// The age pyramid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ages {
    /// Relative size of each age group (any unit; normalised). Default: persons in thousands on
    /// 1 Oct 2022, 14,503 / 5,512 / 6,263 / 6,412 / 13,658 / 17,408 / 17,510 / 14,980 / 28,702.
    /// source: IPSS 人口統計資料集 2024 T2-2 (facts §1). The population is split by these shares
    /// exactly (largest remainder), not by sampling.
    pub weights: ByAge,
}

/// Household sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Households {
    /// Share of households of size 1, 2, 3, ... (normalised). Default 0.380 / 0.281 / 0.166 /
    /// 0.124 for 1-4, and the 2020 census's 4.9% of 5+ split as in 2015 (5: 0.0327, 6: 0.0110,
    /// 7: 0.0038, 8: 0.0015): a mean of 2.20 persons. source: 2020 census shares (facts §2,
    /// unverified there) consistent with the sourced 2020 mean of 2.21 (e-Stat 0003445194);
    /// the 5+ split from the 2015 counts (statinvestor 30444).
    ///
    /// Who lives together is a rule, not a parameter: households of 3 or more take two parents
    /// aged 30-59 and fill the other places with children (14 or under, 15-19), then young adults,
    /// then people 70+; the remaining adults form couples of similar age (households of 2) or
    /// live alone (assumption).
    pub size_shares: Vec<f64>,
}

/// Who commutes, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Commuting {
    /// Share who commute to school or work at least once a week (the survey's "commutes").
    /// Default 0.79 / 0.95 / 0.85 / 0.82 / 0.82 / 0.82 / 0.82 / 0.60 / 0.17. source: facts §3
    /// (inference there): ≈95% of ages 6-14 and ~55% of ages 0-5 (so 0.79 for the group),
    /// ≈95% of 15-19, 80-85% of 20-59, ≈60% of 60-69 (employment 50.8% at 65-69), 15-20% of 70+.
    /// Commuters of groups 1-2 go to school, the others to work.
    pub share_by_age: ByAge,
    /// Share of commuters who use public transport (rail or bus; survey commute code 3).
    /// Default 0.05 for group 1 (assumption: pupils walk to school), 0.275 for the others.
    /// source: 2010 census, public transport used by 27.48% of commuters aged 15+ (facts §3,
    /// todo-ran 18936).
    pub public_transport_share_by_age: ByAge,
    /// Probability that a working commuter (groups 3-9) works from home on a given working day.
    /// Default 0.094 = 26.1% of employees teleworking × 1.8 days a week / 5. source: MLIT
    /// テレワーク人口実態調査 R4 (facts §3).
    pub telework_day_probability: f64,
}

/// Smartphones and COCOA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Phones {
    /// Share owning a smartphone. Default 0.33 / 0.90 / 0.95 / 0.95 / 0.93 / 0.90 / 0.88 /
    /// 0.92 / 0.65 (77.8% of the population; MIC 2022: 77.3%). source: facts §4: OpenABM's
    /// 0-9 0.09 and 10-19 0.80 for the young groups; MIC 2016 (20s 94.2%, 30s 90.4%) and
    /// OpenABM for 20-59; Docomo MSRI 2022-23 for 60s (92-93%) and 70s (76-79%), lowered for 80+
    /// by OpenABM's 80+/70s ratio (inference).
    pub smartphone_by_age: ByAge,
    /// Probability that a smartphone owner's phone has COCOA. Default 0.39 for every group:
    /// ≈30% of a survey panel used COCOA (COCOA 総括報告書) ÷ 77.3% smartphone ownership
    /// (inference, facts §4); age enters through smartphone ownership, as OpenABM scales one curve.
    pub cocoa_by_age: ByAge,
    /// Share of smartphone owners with a second phone. Default 0.05 (assumption: facts §4 only
    /// says downloads include second devices).
    pub second_phone_share: f64,
    /// Probability that a second phone has COCOA when the first has. Default 0.5 (assumption).
    pub second_phone_cocoa: f64,
    /// Per-day probability that a first phone is left at home (it then records only household
    /// contacts). Default 0.05 (assumption; the survey's FAQ names the case, no figure found).
    pub left_at_home: f64,
    /// The same for a second phone (a work or spare phone, often left behind). Default 0.5
    /// (assumption). A phone left behind on most days answers the survey's commute question
    /// "does not commute", as the FAQ tells the owner to.
    pub second_left_at_home: f64,
    /// Cumulative COCOA downloads (millions) by date; each COCOA phone's install date is drawn
    /// from this curve (linear between points), so phones also start during the simulation.
    /// Default: 0 at release (2020-06-19, public record), 24.64 (2021-02-03), 28.9 (2021-07),
    /// ≈35 (Apr 2022), 37.88 (2022-06-30), 40.5 (2022-09-09), 41.23 (2022-11-11), 41.28
    /// (2022-11-16). source: facts §4 (soranews24, itexchange, city-cost, cnet, mynavi, k-tai).
    pub downloads: Vec<DownloadsPoint>,
}

/// A point of the cumulative downloads curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadsPoint {
    /// The date of the count.
    pub date: Date,
    /// Cumulative downloads, millions.
    pub millions: f64,
}

/// The daily contacts, by setting.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Contacts {
    pub household: HouseholdContacts,
    pub school: SchoolContacts,
    pub work: WorkContacts,
    pub transit: TransitContacts,
    pub community: CommunityContacts,
}

/// A log-normal duration in minutes, by its median and the sigma of its logarithm; capped to the
/// end of the day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Duration {
    /// Median, minutes.
    pub median: f64,
    /// Standard deviation of the logarithm.
    pub sigma: f64,
}

/// A uniform distance in metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distance {
    /// Metres, at least 0.01.
    pub min: f64,
    /// Metres, at least `min`.
    pub max: f64,
}

/// A uniform start time, in minutes of the local day (0 = 00:00 JST, 1439 = 23:59).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Earliest start minute.
    pub from: u16,
    /// Latest start minute (included), below 1440.
    pub to: u16,
}

/// Every pair of household members meets every day, at home in the evening.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HouseholdContacts {
    /// Default median 120 min, sigma 0.5 (assumption: time near each other at home).
    pub duration: Duration,
    /// Default 1-3 m (assumption).
    pub distance: Distance,
    /// Default 18:00-22:00 (assumption).
    pub start: Window,
    /// Multiplier of the per-minute transmission rate in this setting. Default 1 (unmasked,
    /// talking; the reference setting).
    pub transmission_weight: f64,
}

/// School commuters (groups 1-2) meet classmates on school days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchoolContacts {
    /// Pupils per class. Default 30 (assumption; Japan's class-size limits are 35-40).
    pub class_size: u32,
    /// Mean classmates met per school day at activity 1. Default 6 (assumption).
    pub per_day: f64,
    /// Default median 30 min, sigma 0.6 (assumption).
    pub duration: Duration,
    /// Default 1-2 m (assumption).
    pub distance: Distance,
    /// Default 08:30-15:00 (assumption).
    pub start: Window,
    /// Default 0.8 (calibration, below households' 1 for masks indoors in 2022 Japan; OpenABM
    /// weighs households 2× other settings, facts §5).
    pub transmission_weight: f64,
}

/// Working commuters (groups 3-9) meet colleagues of their work group on working days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkContacts {
    /// People per work group. Default 10 (assumption).
    pub group_size: u32,
    /// Mean colleagues met per working day at activity 1. Default 4 (assumption).
    pub per_day: f64,
    /// Default median 30 min, sigma 0.6 (assumption).
    pub duration: Duration,
    /// Default 1-2.5 m (assumption).
    pub distance: Distance,
    /// Default 09:00-18:00 (assumption).
    pub start: Window,
    /// Default 0.8 (calibration, as school).
    pub transmission_weight: f64,
}

/// Public-transport commuters ride twice a working day, with strangers: each ride the riders are
/// shuffled into carriages and each meets the riders standing next to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransitContacts {
    /// Riders per carriage. Default 185: ≈150 persons per 20 m car at 100% × the Tokyo area's
    /// 123% peak congestion in FY2022 (facts §3, inference there; moneypost, MLIT).
    pub carriage_riders: u32,
    /// Mean riders met per ride at activity 1 (near neighbours). Default 4 (assumption: at 123%
    /// everyone holds a strap, a few people within a metre).
    pub per_ride: f64,
    /// The planted effect: a multiplier of `per_ride`, so a scenario can make public-transport
    /// commuters meet more (or fewer) people and check that the analysis finds it. Default 1.
    pub multiplier: f64,
    /// Default median 15 min, sigma 0.5, of a ride of ≈40 min one way (facts §3: round trip
    /// 1 h 19 min nationally; a neighbour is shared for part of it: assumption).
    pub duration: Duration,
    /// Default 0.3-1.0 m (facts §3: at 123% congestion passengers stand close; "200% bodies press
    /// together").
    pub distance: Distance,
    /// Departures to work or school. Default 07:00-09:00 (assumption).
    pub morning: Window,
    /// Departures home. Default 17:00-20:00 (assumption).
    pub evening: Window,
    /// Default 0.5 (calibration: masked, mostly silent riders, ventilated carriages).
    pub transmission_weight: f64,
}

/// Random short encounters anywhere (shops, restaurants, streets), for everyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommunityContacts {
    /// Mean contacts per person per weekday at activity 1. Default 3 (assumption).
    pub per_day: f64,
    /// Multiplier on weekends and holidays. Default 1.5 (assumption).
    pub weekend_multiplier: f64,
    /// Default median 10 min, sigma 0.7 (assumption).
    pub duration: Duration,
    /// Default 1-3 m (assumption).
    pub distance: Distance,
    /// Default 09:00-21:00 (assumption).
    pub start: Window,
    /// Default 0.8 (calibration, as school).
    pub transmission_weight: f64,
}

/// The disease: Omicron's natural history (BA.5 where known) and transmission.
///
/// Probability that an infectious person infects a susceptible one during a contact of `t`
/// minutes at `d` metres: `p = 1 - exp(-beta * w * i * t * min(1, (d0 / d)^2))`, with `w` the
/// setting's `transmission_weight`, `i` the infector's relative infectiousness (1, or
/// `asymptomatic_infectiousness`) and `d0` the `reference_distance_m`: a constant hazard per
/// minute, diluted with the square of the distance beyond `d0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Disease {
    /// Hazard of infection per minute of contact at `reference_distance_m` or closer in the
    /// reference setting. Default 0.0025 (calibration: a household pair's day together then
    /// infects with ≈10%, and the household secondary attack rate comes out at ≈40%, between
    /// BA.5's 27.8% and Omicron's 42.7-43.1%, facts §5; with the setting weights, a city
    /// reproduction number of ≈0.7-0.8, so that imports drive the waves).
    pub beta_per_minute: f64,
    /// Distance (m) within which the hazard is not diluted. Default 1.0 (assumption).
    pub reference_distance_m: f64,
    /// Mean incubation period (infection to symptom onset), days, gamma-distributed. Default
    /// 2.6. source: BA.5, Ogata & Tanaka, EID 29(3) 2023 (facts §5).
    pub incubation_mean_days: f64,
    /// Shape of the incubation gamma. Default 6.5: percentiles 5th 1.2, median 2.5, 95th 4.5, as
    /// published (same source; the shape is fitted to them).
    pub incubation_shape: f64,
    /// Days of infectiousness before symptom onset (after at least one day of latency). Default
    /// 2 (calibration, with `symptomatic_days`: ≈half of symptomatic cases' transmission before
    /// onset, as the 51% of Manica et al. 2022 and 57.2% in Shanghai, facts §5).
    pub presymptomatic_days: u32,
    /// Days infectious from symptom onset (onset day included). Default 3 (calibration: with two
    /// presymptomatic days, ≈45% of symptomatic cases' transmission happens before onset, near
    /// the 51% of facts §5; infectious days then span 5 days, consistent with Omicron's
    /// generation interval of 3.0 days, Park et al. 2023, facts §5).
    pub symptomatic_days: u32,
    /// Days infectious for an asymptomatic course (from the day a symptomatic one would start).
    /// Default 5 (assumption: as long as presymptomatic + symptomatic).
    pub asymptomatic_days: u32,
    /// Share of infections that stay asymptomatic. Default 0.438 for groups 1-2 (Omicron studies
    /// with median age under 20), 0.324 for the others. source: meta-analysis PMC9321237
    /// (facts §5).
    pub asymptomatic_share_by_age: ByAge,
    /// Infectiousness of an asymptomatic case relative to a symptomatic one. Default 0.4: the
    /// secondary attack rate from symptomatic index cases is 2.55× that from asymptomatic ones
    /// (Koh et al. 2020; inference in facts §5; OpenABM uses 0.33).
    pub asymptomatic_infectiousness: f64,
    /// Share immune on day 0 (vaccination, past infection), never infected in the simulation.
    /// Default 0 (assumption: immunity is folded into `beta_per_minute`).
    pub initial_immune_share: f64,
}

/// Infections from outside the city.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Imports {
    /// Japan's reported cases per day (7-day mean) by date, linear between points and constant
    /// outside them. Default: 47,028 (04-07), 38,571 (05-15), 13,958 (06-20), 43,733 (07-10),
    /// 101,837 (07-20), 201,124 (07-31), 215,321 (08-10), 227,576 (08-24), 166,875 (08-31),
    /// 66,704 (09-20), 25,722 (10-11), 64,762 (11-10), 102,124 (11-30). source: MHLW open data
    /// newly_confirmed_cases_daily.csv (facts §6).
    pub national_cases: Vec<CasesPoint>,
    /// Japan's population for the curve above. Default 124,947,000 (IPSS 2024 T2-2, facts §1).
    pub national_population: f64,
    /// Imported infections per day = `scale` × national cases per person × city population
    /// (a Poisson count; each lands on a random person, if susceptible). Default 0.4
    /// (calibration: with local transmission below 1, the city's daily infections follow the
    /// national curve at about its reported level, ≈0.17% a day at the 7th wave's peak).
    pub scale: f64,
    /// People infected on day 0, on top of the imports. Default 0.
    pub initial_infections: u32,
}

/// A point of the national epidemic curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesPoint {
    /// The report date.
    pub date: Date,
    /// Reported cases per day, 7-day mean.
    pub cases: f64,
}

/// The care path: a test, its result, and registering the positive result in COCOA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Care {
    /// Probability that a person with symptoms gets tested. Default 0.7 (assumption; the time
    /// from onset to result is not found for Japan, facts §5).
    pub symptomatic_test_probability: f64,
    /// Days from symptom onset (or a notification) to the test. Default 1. source: OpenABM
    /// `test_order_wait` (facts §5; Japan not found).
    pub test_delay_days: u32,
    /// Days from the test to its result. Default 1. source: OpenABM `test_result_wait`
    /// (facts §5; a Tokyo anecdote of ≈1.5 days, facts §8).
    pub result_delay_days: u32,
    /// A test is positive from this many days after infection ... Default 1 (assumption).
    pub detectable_from_days: u32,
    /// ... up to this many days after infection. Default 10 (assumption).
    pub detectable_until_days: u32,
    /// Probability that a person with a positive result and an installed COCOA phone registers
    /// it, by period (each from its date until the next). Default 0.63 from 2022-04-07
    /// (registrations were ≈19-21% of reported cases while ≈30% used COCOA) and 0.20 from
    /// 2022-09-26, the full-count review after which most cases got no processing number (≈6% of
    /// cases). source: facts §6 (inference there) and §4.
    pub registration: Vec<RegistrationPeriod>,
}

/// The registration probability from a date on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationPeriod {
    /// First day of the period.
    pub from: Date,
    /// Probability of registering a positive result in it.
    pub probability: f64,
}

/// How people change their contacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// Probability that a notified person changes behaviour. Default 0.741: 74.1% of COCOA users
    /// did something differently after a notification. source: COCOA 総括報告書 (facts §8).
    pub notified_response_probability: f64,
    /// Outside contacts (not household) of a responding notified person, as a share of normal.
    /// Default 0.5 (assumption).
    pub notified_contact_multiplier: f64,
    /// Days the response lasts, from the day after the notification. Default 7: the close-contact
    /// quarantine (7 days; 5 from 2022-07-22). source: facts §5, §8.
    pub notified_response_days: u32,
    /// Probability that a notified person gets tested. Default 0.3 (assumption: notified people
    /// could get a free test, facts §8; the share who did is not found).
    pub notified_test_probability: f64,
    /// Outside contacts of a person with symptoms, as a share of normal (staying home sick).
    /// Default 0.5 (assumption).
    pub symptomatic_contact_multiplier: f64,
    /// Outside contacts of a person isolating after a positive result. Default 0.1 (assumption).
    pub isolation_contact_multiplier: f64,
    /// Days of isolation from the positive result. Default 7: the rule from 2022-09-07 (7 days
    /// after onset). source: facts §5.
    pub isolation_days: u32,
}

/// The end-of-use survey, per COCOA phone, by its owner's age group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Survey {
    /// Probability of answering at all. Default 0.081 for every group: ≈3.03 M submissions
    /// (facts §8) ÷ ≈37.5 M users (30% of 124.95 M, facts §4) (inference; no figure by age).
    pub participation_by_age: ByAge,
    /// Probability of giving the age group rather than "no answer". Default 0.95 (assumption).
    pub answer_age_by_age: ByAge,
    /// Probability of giving the commute rather than "no answer". Default 0.93 (assumption).
    pub answer_commute_by_age: ByAge,
    /// Probability of consenting to send the start date (the switch defaults to OFF,
    /// cocoa-wire.md §5). Default 0.4 (assumption).
    pub consent_start_date_by_age: ByAge,
    /// Probability of consenting to send the daily data (the switch defaults to OFF). Default
    /// 0.5 (assumption).
    pub consent_daily_by_age: ByAge,
}

/// Bluetooth attenuation, per scan: the log-distance path-loss model fitted to COCOA's design
/// model, with its log-normal noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Radio {
    /// Median attenuation at 1 m, dB. Default 50.4 = e^3.92, the model COCOA's ENv2 design used
    /// (Lovett et al., arXiv 2007.05057: ln attenuation ~ N(0.21 ln d + 3.92, 0.33); facts §7).
    pub attenuation_at_1m_db: f64,
    /// Path-loss exponent n of `median(d) = A(1 m) + 10 n log10(d)`. Default 2.65: the
    /// least-squares fit of that model to e^(0.21 ln d + 3.92) over 0.5-3 m (within 1.2 dB of it;
    /// the medians of facts §7's table: 44 / 50 / 55 / 58 / 64 dB at 0.5 / 1 / 1.5 / 2 / 3 m).
    pub path_loss_exponent: f64,
    /// Standard deviation of ln(attenuation) of one advertisement. Default 0.574 = √0.33 (same
    /// source).
    pub sigma_ln_per_sample: f64,
    /// Advertisements averaged into one scan's attenuation (the noise of a scan is that of their
    /// mean). Default 37, the design document's assumption per ScanInstance (facts §7).
    pub samples_per_scan: u32,
    /// Longest time between two scans, seconds. Default 300. source: gaen.md §3 (reference
    /// Android: a scan every 300 s minus a random 0-90 s); facts §7 ("roughly every 5 min").
    pub scan_interval_s: u32,
    /// The random part subtracted from the interval, at most, seconds. Default 90 (same source).
    pub scan_jitter_s: u32,
}

/// A period of changed activity, both dates included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityPeriod {
    /// What it is (for reports).
    pub name: String,
    /// First day.
    pub start: Date,
    /// Last day (included).
    pub end: Date,
    /// Multiplier of every contact outside households (school, work, transit, community).
    /// Default 1.
    #[serde(default = "one")]
    pub multiplier: f64,
    /// No work and no school, like a Sunday. Default false.
    #[serde(default)]
    pub holiday: bool,
    /// No school (work goes on). Default false.
    #[serde(default)]
    pub school_holiday: bool,
}

fn one() -> f64 {
    1.0
}

fn date(s: &str) -> Date {
    s.parse().expect("a valid default date")
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            seed: 2022,
            start_date: date("2022-04-07"),
            days: 269,
            population: 32_000,
            ages: Ages::default(),
            households: Households::default(),
            commuting: Commuting::default(),
            phones: Phones::default(),
            contacts: Contacts::default(),
            disease: Disease::default(),
            imports: Imports::default(),
            care: Care::default(),
            behaviour: Behaviour::default(),
            survey: Survey::default(),
            radio: Radio::default(),
            activity: default_activity(),
        }
    }
}

impl Default for Ages {
    fn default() -> Self {
        // source: IPSS 2024 T2-2, 2022 column, thousands (facts §1)
        Self {
            weights: [
                14_503.0, 5_512.0, 6_263.0, 6_412.0, 13_658.0, 17_408.0, 17_510.0, 14_980.0,
                28_702.0,
            ],
        }
    }
}

impl Default for Households {
    fn default() -> Self {
        // source: 2020 census shares (facts §2); 5+ split by the 2015 counts
        Self {
            size_shares: vec![0.380, 0.281, 0.166, 0.124, 0.0327, 0.0110, 0.0038, 0.0015],
        }
    }
}

impl Default for Commuting {
    fn default() -> Self {
        Self {
            // source: facts §3 (inference there from enrolment and employment rates)
            share_by_age: [0.79, 0.95, 0.85, 0.82, 0.82, 0.82, 0.82, 0.60, 0.17],
            // source: 2010 census 27.48% (facts §3); group 1 assumption
            public_transport_share_by_age: [
                0.05, 0.275, 0.275, 0.275, 0.275, 0.275, 0.275, 0.275, 0.275,
            ],
            // source: MLIT telework survey R4, 26.1% × 1.8 d / 5 d (facts §3)
            telework_day_probability: 0.094,
        }
    }
}

impl Default for Phones {
    fn default() -> Self {
        Self {
            // source: facts §4 (MIC, Docomo MSRI, OpenABM; inference)
            smartphone_by_age: [0.33, 0.90, 0.95, 0.95, 0.93, 0.90, 0.88, 0.92, 0.65],
            // source: 30% of a panel used COCOA / 77.3% smartphones (facts §4, inference)
            cocoa_by_age: [0.39; 9],
            second_phone_share: 0.05, // assumption
            second_phone_cocoa: 0.5,  // assumption
            left_at_home: 0.05,       // assumption
            second_left_at_home: 0.5, // assumption
            // source: facts §4 download counts; release date public record
            downloads: [
                ("2020-06-19", 0.0),
                ("2021-02-03", 24.64),
                ("2021-07-15", 28.9),
                ("2022-04-15", 35.0),
                ("2022-06-30", 37.88),
                ("2022-09-09", 40.5),
                ("2022-11-11", 41.23),
                ("2022-11-16", 41.28),
            ]
            .into_iter()
            .map(|(d, millions)| DownloadsPoint {
                date: date(d),
                millions,
            })
            .collect(),
        }
    }
}

impl Default for HouseholdContacts {
    fn default() -> Self {
        // assumption (no source in the fact sheet)
        Self {
            duration: Duration {
                median: 120.0,
                sigma: 0.5,
            },
            distance: Distance { min: 1.0, max: 3.0 },
            start: Window {
                from: 18 * 60,
                to: 22 * 60,
            },
            transmission_weight: 1.0,
        }
    }
}

impl Default for SchoolContacts {
    fn default() -> Self {
        // assumption (no source in the fact sheet)
        Self {
            class_size: 30,
            per_day: 6.0,
            duration: Duration {
                median: 30.0,
                sigma: 0.6,
            },
            distance: Distance { min: 1.0, max: 2.0 },
            start: Window {
                from: 8 * 60 + 30,
                to: 15 * 60,
            },
            transmission_weight: 0.8,
        }
    }
}

impl Default for WorkContacts {
    fn default() -> Self {
        // assumption (no source in the fact sheet)
        Self {
            group_size: 10,
            per_day: 4.0,
            duration: Duration {
                median: 30.0,
                sigma: 0.6,
            },
            distance: Distance { min: 1.0, max: 2.5 },
            start: Window {
                from: 9 * 60,
                to: 18 * 60,
            },
            transmission_weight: 0.8,
        }
    }
}

impl Default for TransitContacts {
    fn default() -> Self {
        Self {
            // source: 150 per car × 123% (facts §3, inference there)
            carriage_riders: 185,
            per_ride: 4.0, // assumption
            multiplier: 1.0,
            // source: ≈40 min one way (facts §3); the shared part an assumption
            duration: Duration {
                median: 15.0,
                sigma: 0.5,
            },
            distance: Distance { min: 0.3, max: 1.0 },
            morning: Window {
                from: 7 * 60,
                to: 9 * 60,
            },
            evening: Window {
                from: 17 * 60,
                to: 20 * 60,
            },
            transmission_weight: 0.5, // calibration
        }
    }
}

impl Default for CommunityContacts {
    fn default() -> Self {
        // assumption (no source in the fact sheet)
        Self {
            per_day: 3.0,
            weekend_multiplier: 1.5,
            duration: Duration {
                median: 10.0,
                sigma: 0.7,
            },
            distance: Distance { min: 1.0, max: 3.0 },
            start: Window {
                from: 9 * 60,
                to: 21 * 60,
            },
            transmission_weight: 0.8,
        }
    }
}

impl Default for Disease {
    fn default() -> Self {
        Self {
            beta_per_minute: 0.0025,   // calibration: household SAR ≈40% (facts §5)
            reference_distance_m: 1.0, // assumption
            incubation_mean_days: 2.6, // source: Ogata & Tanaka 2023, BA.5 (facts §5)
            incubation_shape: 6.5,     // fitted to the same percentiles 1.2-4.5
            presymptomatic_days: 2,    // calibration: ≈51-57% presymptomatic (facts §5)
            symptomatic_days: 3,       // calibration: presymptomatic share (facts §5)
            asymptomatic_days: 5,      // assumption
            // source: meta-analysis PMC9321237 (facts §5)
            asymptomatic_share_by_age: [
                0.438, 0.438, 0.324, 0.324, 0.324, 0.324, 0.324, 0.324, 0.324,
            ],
            asymptomatic_infectiousness: 0.4, // source: Koh et al. 2020, 1/2.55 (facts §5)
            initial_immune_share: 0.0,        // assumption
        }
    }
}

impl Default for Imports {
    fn default() -> Self {
        Self {
            // source: MHLW newly_confirmed_cases_daily.csv, 7-day means (facts §6)
            national_cases: [
                ("2022-04-07", 47_028.0),
                ("2022-05-15", 38_571.0),
                ("2022-06-20", 13_958.0),
                ("2022-07-10", 43_733.0),
                ("2022-07-20", 101_837.0),
                ("2022-07-31", 201_124.0),
                ("2022-08-10", 215_321.0),
                ("2022-08-24", 227_576.0),
                ("2022-08-31", 166_875.0),
                ("2022-09-20", 66_704.0),
                ("2022-10-11", 25_722.0),
                ("2022-11-10", 64_762.0),
                ("2022-11-30", 102_124.0),
            ]
            .into_iter()
            .map(|(d, cases)| CasesPoint {
                date: date(d),
                cases,
            })
            .collect(),
            national_population: 124_947_000.0, // source: IPSS 2024 T2-2 (facts §1)
            scale: 0.4,                         // calibration
            initial_infections: 0,
        }
    }
}

impl Default for Care {
    fn default() -> Self {
        Self {
            symptomatic_test_probability: 0.7, // assumption
            test_delay_days: 1,                // source: OpenABM test_order_wait (facts §5)
            result_delay_days: 1,              // source: OpenABM test_result_wait (facts §5)
            detectable_from_days: 1,           // assumption
            detectable_until_days: 10,         // assumption
            // source: facts §6 registrations ÷ cases, ÷ 30% users (inference)
            registration: vec![
                RegistrationPeriod {
                    from: date("2022-04-07"),
                    probability: 0.63,
                },
                RegistrationPeriod {
                    from: date("2022-09-26"),
                    probability: 0.20,
                },
            ],
        }
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            notified_response_probability: 0.741, // source: COCOA 総括報告書 (facts §8)
            notified_contact_multiplier: 0.5,     // assumption
            notified_response_days: 7,            // source: close-contact quarantine (facts §5)
            notified_test_probability: 0.3,       // assumption
            symptomatic_contact_multiplier: 0.5,  // assumption
            isolation_contact_multiplier: 0.1,    // assumption
            isolation_days: 7,                    // source: isolation rule 2022-09-07 (facts §5)
        }
    }
}

impl Default for Survey {
    fn default() -> Self {
        Self {
            participation_by_age: [0.081; 9], // inference: 3.03 M / 37.5 M (facts §4, §8)
            answer_age_by_age: [0.95; 9],     // assumption
            answer_commute_by_age: [0.93; 9], // assumption
            consent_start_date_by_age: [0.4; 9], // assumption (switch OFF by default)
            consent_daily_by_age: [0.5; 9],   // assumption (switch OFF by default)
        }
    }
}

impl Default for Radio {
    fn default() -> Self {
        Self {
            attenuation_at_1m_db: 50.4, // source: Lovett et al. via COCOA design doc (facts §7)
            path_loss_exponent: 2.65,   // fitted to the same model over 0.5-3 m
            sigma_ln_per_sample: 0.574, // source: √0.33, same model
            samples_per_scan: 37,       // source: COCOA design doc (facts §7)
            scan_interval_s: 300,       // source: gaen.md §3
            scan_jitter_s: 90,          // source: gaen.md §3
        }
    }
}

/// Japan's 2022 holidays from April on (national holidays under the 祝日法, public record), the
/// usual public-school holidays and Obon closures (assumption: dates vary by city and firm).
fn default_activity() -> Vec<ActivityPeriod> {
    let holiday = |name: &str, start: &str, end: &str| ActivityPeriod {
        name: name.to_owned(),
        start: date(start),
        end: date(end),
        multiplier: 1.0,
        holiday: true,
        school_holiday: false,
    };
    let school = |name: &str, start: &str, end: &str| ActivityPeriod {
        school_holiday: true,
        holiday: false,
        ..holiday(name, start, end)
    };
    vec![
        holiday("Showa Day", "2022-04-29", "2022-04-29"),
        holiday("Golden Week", "2022-05-03", "2022-05-05"),
        holiday("Marine Day", "2022-07-18", "2022-07-18"),
        school("School summer holiday", "2022-07-21", "2022-08-31"),
        holiday("Mountain Day", "2022-08-11", "2022-08-11"),
        holiday("Obon", "2022-08-13", "2022-08-16"),
        holiday("Respect for the Aged Day", "2022-09-19", "2022-09-19"),
        holiday("Autumnal Equinox Day", "2022-09-23", "2022-09-23"),
        holiday("Sports Day", "2022-10-10", "2022-10-10"),
        holiday("Culture Day", "2022-11-03", "2022-11-03"),
        holiday("Labour Thanksgiving Day", "2022-11-23", "2022-11-23"),
        school("School winter holiday", "2022-12-24", "2022-12-31"),
        holiday("Year-end closing", "2022-12-29", "2022-12-31"),
    ]
}

/// What a day is like, from the activity schedule and the day of the week.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayKind {
    /// Product of the multipliers of the periods covering the day.
    pub activity: f64,
    /// Work takes place (a weekday that is no holiday).
    pub work: bool,
    /// School takes place (a working day that is no school holiday).
    pub school: bool,
}

impl Scenario {
    /// A scenario from TOML text: unknown keys and wrong types are errors naming the key and
    /// line; the values are then validated.
    pub fn from_toml_str(text: &str) -> Result<Self, Error> {
        let scenario: Scenario = toml::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// The scenario as TOML (every parameter written out).
    pub fn to_toml_string(&self) -> Result<String, Error> {
        Ok(toml::to_string(self)?)
    }

    /// The demo city: 32,000 people (≈10,000 COCOA phones) for 120 days from 2022-04-07, through
    /// the rise of the 7th wave. Everything else is the default.
    pub fn preset_demo() -> Self {
        let defaults = Self::default();
        Self {
            days: 120,
            population: 32_000,
            // Five times the real survey's participation (0.081): with some 10,000 phones at the
            // real rate, almost every cell of the report falls under the small-cell threshold,
            // and the demo would show a report of gaps.
            survey: Survey {
                participation_by_age: [0.4; 9],
                ..defaults.survey
            },
            ..defaults
        }
    }

    /// The calendar date of a simulated day.
    pub fn date(&self, day: Day) -> Date {
        self.start_date
            .add_days(i64::from(day.0))
            .expect("validated: the simulated period is within the calendar")
    }

    /// Unix seconds of `minute` of simulated `day`, in JST.
    pub fn unix_seconds(&self, day: Day, minute: u16) -> i64 {
        self.date(day).unix_seconds_jst(minute)
    }

    /// The simulated day of a date, if it is on or after the start date.
    pub fn day_of(&self, date: Date) -> Option<Day> {
        u32::try_from(date.days_since(self.start_date))
            .ok()
            .map(Day)
    }

    /// Activity, work and school on a day.
    pub fn day_kind(&self, day: Day) -> DayKind {
        let date = self.date(day);
        let mut kind = DayKind {
            activity: 1.0,
            work: !date.is_weekend(),
            school: !date.is_weekend(),
        };
        for p in self
            .activity
            .iter()
            .filter(|p| p.start <= date && date <= p.end)
        {
            kind.activity *= p.multiplier;
            if p.holiday {
                kind.work = false;
                kind.school = false;
            }
            if p.school_holiday {
                kind.school = false;
            }
        }
        kind
    }

    /// Expected imported infections on a day.
    pub fn expected_imports(&self, day: Day) -> f64 {
        let i = &self.imports;
        let points: Vec<(i64, f64)> = i
            .national_cases
            .iter()
            .map(|p| (p.date.epoch_day(), p.cases))
            .collect();
        let cases = interpolate(&points, self.date(day).epoch_day() as f64);
        i.scale * cases / i.national_population * f64::from(self.population)
    }

    /// The probability that a positive person registers, on a date.
    pub fn registration_probability(&self, date: Date) -> f64 {
        let periods = &self.care.registration;
        periods
            .iter()
            .rev()
            .find(|p| p.from <= date)
            .or(periods.first())
            .map_or(0.0, |p| p.probability)
    }

    /// Expected COCOA phones per person (to size a city for a number of phones).
    pub fn expected_cocoa_phones_per_person(&self) -> f64 {
        let total: f64 = self.ages.weights.iter().sum();
        let p = &self.phones;
        (0..9)
            .map(|g| {
                self.ages.weights[g] / total
                    * p.smartphone_by_age[g]
                    * p.cocoa_by_age[g]
                    * (1.0 + p.second_phone_share * p.second_phone_cocoa)
            })
            .sum()
    }

    /// Checks every parameter's range; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), Error> {
        let mut v = Validator;
        v.range("days", f64::from(self.days), 1.0, 100_000.0)?;
        v.range("population", f64::from(self.population), 2.0, 50_000_000.0)?;
        if self.start_date.add_days(i64::from(self.days) + 1).is_none() {
            return Err(Error::invalid("days", "runs past the calendar"));
        }
        v.weights("ages.weights", &self.ages.weights)?;
        let sizes = &self.households.size_shares;
        if sizes.is_empty() || sizes.len() > 16 {
            return Err(Error::invalid(
                "households.size_shares",
                "must list 1 to 16 sizes",
            ));
        }
        v.weights("households.size_shares", sizes)?;

        let c = &self.commuting;
        v.shares("commuting.share_by_age", &c.share_by_age)?;
        v.shares(
            "commuting.public_transport_share_by_age",
            &c.public_transport_share_by_age,
        )?;
        v.share(
            "commuting.telework_day_probability",
            c.telework_day_probability,
        )?;

        let p = &self.phones;
        v.shares("phones.smartphone_by_age", &p.smartphone_by_age)?;
        v.shares("phones.cocoa_by_age", &p.cocoa_by_age)?;
        v.share("phones.second_phone_share", p.second_phone_share)?;
        v.share("phones.second_phone_cocoa", p.second_phone_cocoa)?;
        v.share("phones.left_at_home", p.left_at_home)?;
        v.share("phones.second_left_at_home", p.second_left_at_home)?;
        let downloads: Vec<(Date, f64)> =
            p.downloads.iter().map(|d| (d.date, d.millions)).collect();
        v.curve("phones.downloads", &downloads)?;
        if downloads.windows(2).any(|w| w[1].1 < w[0].1)
            || downloads.last().is_none_or(|l| l.1 <= 0.0)
        {
            return Err(Error::invalid(
                "phones.downloads",
                "must be cumulative: never falling, and above 0 at the end",
            ));
        }

        let k = &self.contacts;
        let h = &k.household;
        v.setting(
            "contacts.household",
            h.duration,
            h.distance,
            h.transmission_weight,
        )?;
        v.window("contacts.household.start", h.start)?;
        let s = &k.school;
        v.setting(
            "contacts.school",
            s.duration,
            s.distance,
            s.transmission_weight,
        )?;
        v.window("contacts.school.start", s.start)?;
        let w = &k.work;
        v.setting(
            "contacts.work",
            w.duration,
            w.distance,
            w.transmission_weight,
        )?;
        v.window("contacts.work.start", w.start)?;
        let t = &k.transit;
        v.setting(
            "contacts.transit",
            t.duration,
            t.distance,
            t.transmission_weight,
        )?;
        v.window("contacts.transit.morning", t.morning)?;
        v.window("contacts.transit.evening", t.evening)?;
        let c = &k.community;
        v.setting(
            "contacts.community",
            c.duration,
            c.distance,
            c.transmission_weight,
        )?;
        v.window("contacts.community.start", c.start)?;
        v.range(
            "contacts.school.class_size",
            f64::from(k.school.class_size),
            2.0,
            10_000.0,
        )?;
        v.range(
            "contacts.work.group_size",
            f64::from(k.work.group_size),
            2.0,
            10_000.0,
        )?;
        v.range(
            "contacts.transit.carriage_riders",
            f64::from(k.transit.carriage_riders),
            2.0,
            10_000.0,
        )?;
        v.range("contacts.school.per_day", k.school.per_day, 0.0, 1_000.0)?;
        v.range("contacts.work.per_day", k.work.per_day, 0.0, 1_000.0)?;
        v.range(
            "contacts.transit.per_ride",
            k.transit.per_ride,
            0.0,
            1_000.0,
        )?;
        v.range(
            "contacts.transit.multiplier",
            k.transit.multiplier,
            0.0,
            1_000.0,
        )?;
        v.range(
            "contacts.community.per_day",
            k.community.per_day,
            0.0,
            1_000.0,
        )?;
        v.range(
            "contacts.community.weekend_multiplier",
            k.community.weekend_multiplier,
            0.0,
            1_000.0,
        )?;

        let d = &self.disease;
        v.range("disease.beta_per_minute", d.beta_per_minute, 0.0, 1.0)?;
        v.positive("disease.reference_distance_m", d.reference_distance_m)?;
        v.range(
            "disease.incubation_mean_days",
            d.incubation_mean_days,
            0.1,
            60.0,
        )?;
        v.range("disease.incubation_shape", d.incubation_shape, 1.0, 1_000.0)?;
        v.range(
            "disease.presymptomatic_days",
            f64::from(d.presymptomatic_days),
            0.0,
            60.0,
        )?;
        v.range(
            "disease.symptomatic_days",
            f64::from(d.symptomatic_days),
            1.0,
            60.0,
        )?;
        v.range(
            "disease.asymptomatic_days",
            f64::from(d.asymptomatic_days),
            1.0,
            60.0,
        )?;
        v.shares(
            "disease.asymptomatic_share_by_age",
            &d.asymptomatic_share_by_age,
        )?;
        v.range(
            "disease.asymptomatic_infectiousness",
            d.asymptomatic_infectiousness,
            0.0,
            10.0,
        )?;
        v.share("disease.initial_immune_share", d.initial_immune_share)?;

        let i = &self.imports;
        let cases: Vec<(Date, f64)> = i.national_cases.iter().map(|p| (p.date, p.cases)).collect();
        v.curve("imports.national_cases", &cases)?;
        v.positive("imports.national_population", i.national_population)?;
        v.range("imports.scale", i.scale, 0.0, 1_000.0)?;
        if i.initial_infections > self.population {
            return Err(Error::invalid(
                "imports.initial_infections",
                "is more than the population",
            ));
        }

        let care = &self.care;
        v.share(
            "care.symptomatic_test_probability",
            care.symptomatic_test_probability,
        )?;
        v.range(
            "care.test_delay_days",
            f64::from(care.test_delay_days),
            0.0,
            60.0,
        )?;
        v.range(
            "care.result_delay_days",
            f64::from(care.result_delay_days),
            0.0,
            60.0,
        )?;
        if care.detectable_from_days > care.detectable_until_days {
            return Err(Error::invalid(
                "care.detectable_from_days",
                "is after care.detectable_until_days",
            ));
        }
        for (n, r) in care.registration.iter().enumerate() {
            v.share(
                &format!("care.registration[{n}].probability"),
                r.probability,
            )?;
        }
        if care.registration.windows(2).any(|w| w[1].from <= w[0].from) {
            return Err(Error::invalid(
                "care.registration",
                "dates must rise strictly",
            ));
        }

        let b = &self.behaviour;
        v.share(
            "behaviour.notified_response_probability",
            b.notified_response_probability,
        )?;
        v.range(
            "behaviour.notified_contact_multiplier",
            b.notified_contact_multiplier,
            0.0,
            1.0,
        )?;
        v.share(
            "behaviour.notified_test_probability",
            b.notified_test_probability,
        )?;
        v.range(
            "behaviour.symptomatic_contact_multiplier",
            b.symptomatic_contact_multiplier,
            0.0,
            1.0,
        )?;
        v.range(
            "behaviour.isolation_contact_multiplier",
            b.isolation_contact_multiplier,
            0.0,
            1.0,
        )?;
        v.range(
            "behaviour.notified_response_days",
            f64::from(b.notified_response_days),
            0.0,
            365.0,
        )?;
        v.range(
            "behaviour.isolation_days",
            f64::from(b.isolation_days),
            0.0,
            365.0,
        )?;

        let s = &self.survey;
        v.shares("survey.participation_by_age", &s.participation_by_age)?;
        v.shares("survey.answer_age_by_age", &s.answer_age_by_age)?;
        v.shares("survey.answer_commute_by_age", &s.answer_commute_by_age)?;
        v.shares(
            "survey.consent_start_date_by_age",
            &s.consent_start_date_by_age,
        )?;
        v.shares("survey.consent_daily_by_age", &s.consent_daily_by_age)?;

        let r = &self.radio;
        v.range(
            "radio.attenuation_at_1m_db",
            r.attenuation_at_1m_db,
            1.0,
            200.0,
        )?;
        v.range("radio.path_loss_exponent", r.path_loss_exponent, 0.0, 10.0)?;
        v.range("radio.sigma_ln_per_sample", r.sigma_ln_per_sample, 0.0, 5.0)?;
        v.range(
            "radio.samples_per_scan",
            f64::from(r.samples_per_scan),
            1.0,
            10_000.0,
        )?;
        v.range(
            "radio.scan_interval_s",
            f64::from(r.scan_interval_s),
            1.0,
            3_600.0,
        )?;
        if r.scan_jitter_s >= r.scan_interval_s {
            return Err(Error::invalid(
                "radio.scan_jitter_s",
                "must be below radio.scan_interval_s",
            ));
        }

        for (n, a) in self.activity.iter().enumerate() {
            let field = format!("activity[{n}] ({})", a.name);
            if a.end < a.start {
                return Err(Error::invalid(field, "ends before it starts"));
            }
            v.range(&format!("{field}.multiplier"), a.multiplier, 0.0, 100.0)?;
        }
        Ok(())
    }
}

/// Linear interpolation in (x, y) points sorted by x, constant outside them.
pub(crate) fn interpolate(points: &[(i64, f64)], x: f64) -> f64 {
    let Some(first) = points.first() else {
        return 0.0;
    };
    if x <= first.0 as f64 {
        return first.1;
    }
    for w in points.windows(2) {
        let (x0, y0) = (w[0].0 as f64, w[0].1);
        let (x1, y1) = (w[1].0 as f64, w[1].1);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    points[points.len() - 1].1
}

/// The range checks, each naming its field.
struct Validator;

impl Validator {
    fn range(&mut self, field: &str, x: f64, lo: f64, hi: f64) -> Result<(), Error> {
        if x.is_finite() && lo <= x && x <= hi {
            Ok(())
        } else {
            Err(Error::invalid(
                field,
                format!("must be within {lo}..={hi} (got {x})"),
            ))
        }
    }

    fn positive(&mut self, field: &str, x: f64) -> Result<(), Error> {
        if x.is_finite() && x > 0.0 {
            Ok(())
        } else {
            Err(Error::invalid(field, format!("must be above 0 (got {x})")))
        }
    }

    fn share(&mut self, field: &str, x: f64) -> Result<(), Error> {
        self.range(field, x, 0.0, 1.0)
    }

    fn shares(&mut self, field: &str, xs: &[f64]) -> Result<(), Error> {
        for (n, &x) in xs.iter().enumerate() {
            self.share(&format!("{field}[{n}]"), x)?;
        }
        Ok(())
    }

    fn weights(&mut self, field: &str, xs: &[f64]) -> Result<(), Error> {
        for (n, &x) in xs.iter().enumerate() {
            self.range(&format!("{field}[{n}]"), x, 0.0, f64::MAX)?;
        }
        if xs.iter().sum::<f64>() > 0.0 {
            Ok(())
        } else {
            Err(Error::invalid(field, "must not all be 0"))
        }
    }

    fn window(&mut self, field: &str, w: Window) -> Result<(), Error> {
        if w.from <= w.to && w.to < MINUTES_PER_DAY {
            Ok(())
        } else {
            Err(Error::invalid(
                field,
                format!("must have from <= to < 1440 (got {}..{})", w.from, w.to),
            ))
        }
    }

    fn setting(
        &mut self,
        field: &str,
        duration: Duration,
        distance: Distance,
        weight: f64,
    ) -> Result<(), Error> {
        self.positive(&format!("{field}.duration.median"), duration.median)?;
        self.range(
            &format!("{field}.duration.sigma"),
            duration.sigma,
            0.0,
            10.0,
        )?;
        self.range(
            &format!("{field}.distance.min"),
            distance.min,
            0.01,
            1_000.0,
        )?;
        self.range(
            &format!("{field}.distance.max"),
            distance.max,
            distance.min,
            1_000.0,
        )?;
        self.range(&format!("{field}.transmission_weight"), weight, 0.0, 100.0)
    }

    fn curve(&mut self, field: &str, points: &[(Date, f64)]) -> Result<(), Error> {
        if points.is_empty() {
            return Err(Error::invalid(field, "must have at least one point"));
        }
        for (n, p) in points.iter().enumerate() {
            self.range(&format!("{field}[{n}]"), p.1, 0.0, f64::MAX)?;
        }
        if points.windows(2).any(|w| w[1].0 <= w[0].0) {
            return Err(Error::invalid(field, "dates must rise strictly"));
        }
        Ok(())
    }
}
