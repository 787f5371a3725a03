-- The report's window ends on the last day an answer was received: with this index that day is
-- a look-up (MAX) instead of a pass over every answer and its daily data.
CREATE INDEX survey_responses_received_day ON survey_responses (received_day);
