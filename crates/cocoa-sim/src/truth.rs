//! Ground truth: what really happened in the city, counted as the model runs (per day, and per
//! age group × commute cell), for the driver's `truth.json` and the validation of the analysis.

use serde::Serialize;

use crate::contacts::Setting;
use crate::time::{Date, Day};

/// A count per contact setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BySetting {
    pub household: u64,
    pub school: u64,
    pub work: u64,
    pub transit: u64,
    pub community: u64,
}

impl BySetting {
    pub fn get(&self, setting: Setting) -> u64 {
        match setting {
            Setting::Household => self.household,
            Setting::School => self.school,
            Setting::Work => self.work,
            Setting::Transit => self.transit,
            Setting::Community => self.community,
        }
    }

    pub(crate) fn add(&mut self, setting: Setting, n: u64) {
        let slot = match setting {
            Setting::Household => &mut self.household,
            Setting::School => &mut self.school,
            Setting::Work => &mut self.work,
            Setting::Transit => &mut self.transit,
            Setting::Community => &mut self.community,
        };
        *slot += n;
    }

    /// The sum over settings.
    pub fn total(&self) -> u64 {
        Setting::ALL.iter().map(|&s| self.get(s)).sum()
    }

    /// The sum over settings outside households.
    pub fn outside_household(&self) -> u64 {
        self.total() - self.household
    }
}

/// One simulated day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayTruth {
    pub day: Day,
    pub date: Date,
    /// The activity multiplier of the day.
    pub activity: f64,
    /// Work took place (a weekday and no holiday).
    pub work: bool,
    /// School took place.
    pub school: bool,
    /// Contacts (each counted once) by setting.
    pub contacts: BySetting,
    /// Infections in the city by the setting of the contact.
    pub infections: BySetting,
    /// Imported infections (and day 0's seed cases).
    pub imported: u64,
    /// People infectious on the day.
    pub infectious: u64,
    pub onsets: u64,
    pub tests: u64,
    pub positives: u64,
    /// Positive people who chose to register from a COCOA phone.
    pub registrations: u64,
    /// The driver's notifications of the day (each `notify` call).
    pub notifications: u64,
    /// People notified for the first time.
    pub newly_notified_people: u64,
    /// COCOA phones in use (installed by the day).
    pub cocoa_phones: u64,
    /// Mean number of people infected by those infected this day (the cohort reproduction
    /// number; final only once the cohort has recovered). `None` if nobody was infected.
    pub cohort_reproduction: Option<f64>,
}

/// One cell of age group × commute (as the survey codes them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupTruth {
    pub age_group: u8,
    pub commute: u8,
    pub people: u64,
    /// COCOA phones of these people in use by the last simulated day.
    pub cocoa_phones: u64,
    /// Contacts of these people (a contact counts once for each side), by setting.
    pub contacts: BySetting,
    /// Person-days simulated (people × days), the denominator of contact rates.
    pub person_days: u64,
    pub infections: u64,
    pub positives: u64,
    pub registrations: u64,
    /// People notified at least once.
    pub notified_people: u64,
    /// `notify` calls for these people.
    pub notifications: u64,
}

/// Who infected: the infector's state on the day of transmission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ByInfectorState {
    pub presymptomatic: u64,
    pub symptomatic: u64,
    pub asymptomatic: u64,
}

/// Everything counted so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Truth {
    pub days: Vec<DayTruth>,
    /// Cells in order age group 1..9, then commute 1..3 within each.
    pub groups: Vec<GroupTruth>,
    /// Infections in the city by the infector's state.
    pub infections_by_infector_state: ByInfectorState,
}

impl Truth {
    /// The cell of an age group (1..=9) and commute code (1..=3).
    pub fn group(&self, age_group: u8, commute: u8) -> &GroupTruth {
        &self.groups[cell(age_group, commute)]
    }

    /// Total infections (local and imported).
    pub fn total_infections(&self) -> u64 {
        self.days
            .iter()
            .map(|d| d.infections.total() + d.imported)
            .sum()
    }
}

/// Index of an age group × commute cell.
pub(crate) fn cell(age_group: u8, commute: u8) -> usize {
    usize::from(age_group - 1) * 3 + usize::from(commute - 1)
}
