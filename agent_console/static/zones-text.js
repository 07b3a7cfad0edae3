// The words of the applicant's clock (zones.js), one table per language, spread into the
// console's catalogues (i18n.js, i18n-zh-hant.js).

export const ZONES_TEXT = Object.freeze({
  "zh-Hans": Object.freeze({
    "zones.queuedAt": "开始排队",
    "zones.applicantTime": "申请人当地时间",
    "zones.pair": "{applicant}(您的时间 {mine})",
  }),
  "zh-Hant": Object.freeze({
    "zones.queuedAt": "開始排隊",
    "zones.applicantTime": "申請人當地時間",
    "zones.pair": "{applicant}(您的時間 {mine})",
  }),
  en: Object.freeze({
    "zones.queuedAt": "Queued at",
    "zones.applicantTime": "Applicant's local time",
    "zones.pair": "{applicant} (your time {mine})",
  }),
});
