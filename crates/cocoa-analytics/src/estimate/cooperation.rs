//! Question 4: what share of users cooperated?

use super::{DayRange, Ids, Method, Strata, AGE_SLOTS, COMMUTE_SLOTS};
use crate::protect::{Share, Solution};
use crate::tables::{
    age_label, commute_label, CooperationRow, CooperationTable, GroupCooperation, Item,
    ReceivedRow, ReceivedTable,
};

use super::{age_of_slot, commute_of_slot};

/// Question 4's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CooperationAnalysis {
    /// Per item: answered (or consented) / all answers.
    pub items: CooperationTable,
    /// Age groups 1..=9 then `none`.
    pub by_age: Vec<GroupCooperation>,
    /// Commuting 1..=3 then `none`.
    pub by_commute: Vec<GroupCooperation>,
    /// Answers / active users (`None` without that input, or if answers are suppressed).
    pub of_active_users: Option<f64>,
    /// Answers received per day of the window.
    pub received: ReceivedTable,
}

pub const METHOD: Method = Method {
    en: "Among all answers: the share answering the age question (q1) and the commuting \
         question (q2), and consenting to send the start date and the daily data, overall and \
         by age and commuting group, each with a Wilson 95% interval; the answers divided by the \
         active users when that number is given (a ratio of a census, without interval); and the \
         answers received per day.",
    ja: "全回答のうち、年齢（q1）と通勤（q2）に回答した割合、利用開始日と日次データの送信に同意した割合を、\
         全体と年齢群・通勤区分ごとに示す（Wilsonの95%区間）。利用者数が与えられた場合は回答数をそれで\
         割った値（全数の比のため区間なし）、また受信日ごとの回答数を示す。",
};

impl CooperationAnalysis {
    pub fn method() -> Method {
        METHOD
    }

    pub(crate) fn estimate(
        solved: &Solution,
        ids: &Ids,
        strata: &Strata,
        window: DayRange,
        active_users: Option<u64>,
    ) -> Self {
        let answers = &strata.answers;
        let start = solved.grid(&ids.start);
        let items = CooperationTable {
            rows: Item::ALL
                .iter()
                .map(|&item| CooperationRow {
                    item,
                    answered: Share::new(
                        match item {
                            Item::Q1 => solved.get(ids.q1),
                            Item::Q2 => solved.get(ids.q2),
                            Item::StartDate => start.total(),
                            Item::ExposureData => strata.with_data.total(),
                        },
                        answers.total(),
                    ),
                })
                .collect(),
        };
        let by_age = (0..AGE_SLOTS)
            .map(|a| {
                let respondents = answers.row_total(a);
                GroupCooperation {
                    group: age_label(age_of_slot(a)),
                    respondents,
                    q1: None,
                    q2: Some(Share::new(solved.get(ids.q2_by_age[a]), respondents)),
                    start_date: Share::new(start.row_total(a), respondents),
                    exposure_data: Share::new(strata.with_data.row_total(a), respondents),
                }
            })
            .collect();
        let by_commute = (0..COMMUTE_SLOTS)
            .map(|c| {
                let respondents = answers.col_total(c);
                GroupCooperation {
                    group: commute_label(commute_of_slot(c)),
                    respondents,
                    q1: Some(Share::new(solved.get(ids.q1_by_commute[c]), respondents)),
                    q2: None,
                    start_date: Share::new(start.col_total(c), respondents),
                    exposure_data: Share::new(strata.with_data.col_total(c), respondents),
                }
            })
            .collect();
        let received = ReceivedTable {
            rows: window
                .days()
                .zip(&ids.received)
                .map(|(day, &id)| ReceivedRow {
                    day,
                    answers: solved.get(id),
                })
                .collect(),
            total: solved.get(ids.received_total),
        };
        Self {
            items,
            by_age,
            by_commute,
            of_active_users: active_users
                .filter(|&u| u > 0)
                .and_then(|u| Some(answers.total().as_f64()? / u as f64)),
            received,
        }
    }
}
