"""What the ``siecle`` reader does with the record behind each problem it reports (see
:mod:`ent_migrate.outcome_rules`); docs/problems.md repeats the table row for row."""

from __future__ import annotations

from ent_migrate.outcome_rules import ANY, Outcome, Rule, RuleTable

__all__ = ["OUTCOMES"]

_K, _D, _X = Outcome.KEPT, Outcome.DROPPED, Outcome.EXCLUDED

OUTCOMES = RuleTable(
    "siecle",
    (
        # -- files ---------------------------------------------------------------------------------------
        Rule("file.unknown", "not a BEE_ELEVES, BEE_RESPONSABLES, BEE_NOMENCLATURES or STS_EDT file", _D, "the file"),
        Rule("file.unknown", "EDT_STS (timetable → STS) file: export sts_emp_<UAI>_<year>.xml instead", _D, "the file"),
        Rule("archive.unsafe-member", ANY, _D, "the member"),
        Rule("xml.dtd-forbidden", ANY, _D, "the whole file"),
        Rule("encoding.unsupported", ANY, _D, "the file from the fault on"),
        Rule("xml.malformed", ANY, _D, "the file from the fault on; records before it are kept"),
        Rule("xml.entity-undefined", ANY, _K, "the value, with the entity as literal text"),
        Rule("encoding.mixed", ANY, _K, "the records, as read (flagged)"),
        Rule("xml.unexpected-element", ANY, _K, "the records; the unknown elements are not read"),
        Rule("record.too-large", ANY, _D, "the element over the size cap"),
        # -- the school ----------------------------------------------------------------------------------
        Rule("uai.missing", "empty PARAMETRES/UAJ", _K, "the file's records, under the export's UAI"),
        Rule("uai.missing", "no PARAMETRES/UAJ", _K, "the file's records, under the expected UAI"),
        Rule("uai.invalid", "not seven digits and a letter", _K, "the records, under the UAI as read"),
        Rule("uai.invalid", "wrong check letter", _K, "the records, under the UAI as read"),
        Rule("uai.mismatch", "PARAMETRES/UAJ is not the expected UAI", _K, "the records, under the file's UAI"),
        Rule("uai.mismatch", "files of two different schools", _K, "the records, under the first file's UAI"),
        # -- pupils (BEE_ELEVES) -------------------------------------------------------------------------
        Rule("record.missing-field", "ELEVE/@ELEVE_ID", _D, "the pupil"),
        Rule("record.missing-field", "pupil NOM_DE_FAMILLE", _D, "the pupil and its links"),
        Rule("record.missing-field", "pupil PRENOM", _D, "the pupil and its links"),
        Rule("record.missing-field", "pupil DATE_NAISS", _K, "the pupil, without birth date"),
        Rule("record.incomplete", "pupil CODE_SEXE", _K, "the pupil, without civility"),
        Rule("record.invalid", "pupil CODE_SEXE not a known code", _K, "the pupil, without civility"),
        Rule("date.invalid", "DATE_NAISS: not dd/mm/yyyy", _K, "the pupil, without birth date"),
        Rule("ine.missing", "empty ID_NATIONAL", _K, "the pupil, without INE (an error in SIECLE)"),
        Rule("ine.duplicate", ANY, _D, "the second pupil with that INE, and its links"),
        Rule("pupil.left", "DATE_SORTIE", _X, "the pupil and its links"),
        Rule("pupil.not-arrived", "no ID_NATIONAL", _X, "the pupil and its links"),
        Rule("pupil.inactive", "division Inactifs", _X, "the pupil and its links"),
        Rule("pupil.no-class", "no division", _K, "the pupil, with its group memberships"),
        Rule("pupil.no-class", "no STRUCTURES_ELEVE", _K, "the pupil, in no group"),
        Rule("ref.dangling", "STRUCTURES_ELEVE of an ELEVE_ID with no ELEVE", _D, "the memberships"),
        Rule("ref.dangling", "class or group not defined in STS", _D, "the membership; the pupil is kept"),
        # -- guardians (BEE_RESPONSABLES) ----------------------------------------------------------------
        Rule("record.missing-field", "PERSONNE/@PERSONNE_ID", _D, "the person"),
        Rule("record.missing-field", "guardian NOM_DE_FAMILLE or PRENOM", _D, "the guardian and its links"),
        Rule("record.missing-field", "RESPONSABLE_ELEVE ELEVE_ID or PERSONNE_ID", _D, "the link"),
        Rule("ref.dangling", "RESPONSABLE_ELEVE to an unknown ELEVE_ID", _D, "the link"),
        Rule("ref.dangling", "RESPONSABLE_ELEVE to an unknown PERSONNE_ID", _D, "the link"),
        Rule("guardian.orphan", "no RESPONSABLE_ELEVE", _X, "the guardian"),
        Rule("guardian.orphan", "every pupil linked is excluded", _X, "the guardian"),
        Rule("record.invalid", "PERSONNE_ID equal to an ELEVE_ID", _D, "the guardian and its links"),
        # -- staff (STS_EDT) -----------------------------------------------------------------------------
        Rule("record.missing-field", "INDIVIDU/@ID", _D, "the staff member"),
        Rule("record.missing-field", "INDIVIDU NOM_USAGE or PRENOM", _D, "the staff member and its services"),
        Rule("record.invalid", "INDIVIDU ID equal to a pupil or guardian id", _D, "the staff member and its services"),
        Rule("date.invalid", "DATE_NAISSANCE: not yyyy-mm-dd", _K, "the staff member, without birth date"),
        Rule("ref.dangling", "ENSEIGNANT not in INDIVIDUS", _D, "the service (membership)"),
    ),
)
