"""The Ed-Fi records the import reads, as plain data: where each field lives in the API's
JSON resources (ODS/API v5 to v7) and in the XML interchanges (Data Standard 5.x).

Each *kind* of record becomes one source frame of text columns with the same names
whichever the source, so that building the extract does not care where the data came from.
A JSON path is dotted (``studentReference.studentUniqueId``); ``[]`` after a segment walks
into a list and gives a list. An XML path is a ``/``-separated path of local names below
the record's element; ``//`` matches at any depth and ``@ref`` reads an attribute. Several
paths for one field are tried in order; the first present wins.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    json: tuple[str, ...] = ()
    xml: tuple[str, ...] = ()
    many: bool = False  # a list of values (several elements, or a JSON list)


@dataclass(frozen=True)
class Kind:
    """One kind of Ed-Fi record: its API resource names, its XML elements and its fields."""

    name: str
    resources: tuple[str, ...]
    elements: tuple[str, ...]
    fields: tuple[Field, ...]

    @property
    def label(self) -> str:
        return self.resources[0]


def _f(name: str, json: str | tuple[str, ...] = (), xml: str | tuple[str, ...] = (), many: bool = False) -> Field:
    as_tuple = lambda v: (v,) if isinstance(v, str) else v  # noqa: E731
    return Field(name, as_tuple(json), as_tuple(xml), many)


_STUDENT = _f("student_id", "studentReference.studentUniqueId", "StudentReference//StudentUniqueId")
_SCHOOL = _f("school_id", "schoolReference.schoolId", "SchoolReference//SchoolId")

_PROGRAM_RESOURCES = (
    "studentProgramAssociations", "studentSpecialEducationProgramAssociations",
    "studentLanguageInstructionProgramAssociations", "studentSchoolFoodServiceProgramAssociations",
    "studentTitleIPartAProgramAssociations", "studentHomelessProgramAssociations",
    "studentMigrantEducationProgramAssociations", "studentCTEProgramAssociations",
    "studentNeglectedOrDelinquentProgramAssociations", "studentSection504ProgramAssociations",
)

KINDS: tuple[Kind, ...] = (
    Kind("schools", ("schools",), ("School",), (
        _f("school_id", "schoolId", "SchoolId"),
        _f("school_name", "nameOfInstitution", "NameOfInstitution"),
        _f("district_id", "localEducationAgencyReference.localEducationAgencyId",
           ("LocalEducationAgencyReference//LocalEducationAgencyId", "LocalEducationAgencyReference/@ref")),
    )),
    Kind("leas", ("localEducationAgencies",), ("LocalEducationAgency",), (
        _f("ref", (), "@id"),
        _f("district_id", "localEducationAgencyId", "LocalEducationAgencyId"),
    )),
    Kind("students", ("students",), ("Student",), (
        _f("student_id", "studentUniqueId", "StudentUniqueId"),
        _f("first_name", "firstName", "Name/FirstName"),
        _f("last_name", "lastSurname", "Name/LastSurname"),
        _f("birth_date", "birthDate", "BirthData/BirthDate"),
        _f("sex", "sexDescriptor", "Sex"),
    )),
    Kind("enrollments", ("studentSchoolAssociations",), ("StudentSchoolAssociation",), (
        _STUDENT, _SCHOOL,
        _f("entry_date", "entryDate", "EntryDate"),
        _f("exit_date", "exitWithdrawDate", "ExitWithdrawDate"),
        _f("grade", "entryGradeLevelDescriptor", "EntryGradeLevel"),
        _f("school_year", ("schoolYearTypeReference.schoolYear", "schoolYear", "calendarReference.schoolYear"),
           ("SchoolYear", "CalendarReference//SchoolYear")),
    )),
    Kind("sessions", ("sessions",), ("Session",), (
        _SCHOOL,
        _f("school_year", ("schoolYearTypeReference.schoolYear", "schoolYear"), "SchoolYear"),
        _f("session", "sessionName", "SessionName"),
        _f("begin", "beginDate", "BeginDate"),
        _f("end", "endDate", "EndDate"),
        _f("days", "totalInstructionalDays", "TotalInstructionalDays"),
    )),
    Kind("calendar_dates", ("calendarDates",), ("CalendarDate",), (
        _f("school_id", "calendarReference.schoolId", "CalendarReference//SchoolId"),
        _f("school_year", "calendarReference.schoolYear", "CalendarReference//SchoolYear"),
        _f("date", "date", "Date"),
        _f("event", "calendarEvents[].calendarEventDescriptor", "CalendarEvent", many=True),
    )),
    Kind("attendance_events", ("studentSchoolAttendanceEvents",), ("StudentSchoolAttendanceEvent",), (
        _STUDENT, _SCHOOL,
        _f("date", "eventDate", "AttendanceEvent/EventDate"),
        _f("category", "attendanceEventCategoryDescriptor", "AttendanceEvent/AttendanceEventCategory"),
    )),
    Kind("incidents", ("disciplineIncidents",), ("DisciplineIncident",), (
        _f("ref", (), "@id"),
        _f("incident", "incidentIdentifier", "IncidentIdentifier"),
        _SCHOOL,
        _f("date", "incidentDate", "IncidentDate"),
        _f("behavior", "behaviors[].behaviorDescriptor", "Behavior/Behavior", many=True),
    )),
    Kind("behaviors", ("studentDisciplineIncidentBehaviorAssociations",),
         ("StudentDisciplineIncidentBehaviorAssociation",), (
        _STUDENT,
        _f("incident", "disciplineIncidentReference.incidentIdentifier", "DisciplineIncidentReference//IncidentIdentifier"),
        _f("school_id", "disciplineIncidentReference.schoolId", "DisciplineIncidentReference//SchoolId"),
        _f("incident_ref", (), "DisciplineIncidentReference/@ref"),
        _f("behavior", "behaviorDescriptor", "Behavior"),
    )),
    Kind("actions", ("disciplineActions",), ("DisciplineAction",), (
        _f("action_id", "disciplineActionIdentifier", "DisciplineActionIdentifier"),
        _f("date", "disciplineDate", "DisciplineDate"),
        _STUDENT,
        _f("school_id", "responsibilitySchoolReference.schoolId", "ResponsibilitySchoolReference//SchoolId"),
        _f("discipline", "disciplines[].disciplineDescriptor", "Discipline", many=True),
        _f("length", ("actualDisciplineActionLength", "disciplineActionLength"),
           ("ActualDisciplineActionLength", "DisciplineActionLength")),
        _f("link_incident", (
            "studentDisciplineIncidentBehaviorAssociations[].studentDisciplineIncidentBehaviorAssociationReference.incidentIdentifier",
            "studentDisciplineIncidentAssociations[].studentDisciplineIncidentAssociationReference.incidentIdentifier",
        ), "StudentDisciplineIncidentBehaviorAssociationReference//IncidentIdentifier", many=True),
        _f("link_school", (
            "studentDisciplineIncidentBehaviorAssociations[].studentDisciplineIncidentBehaviorAssociationReference.schoolId",
            "studentDisciplineIncidentAssociations[].studentDisciplineIncidentAssociationReference.schoolId",
        ), "StudentDisciplineIncidentBehaviorAssociationReference//DisciplineIncidentReference//SchoolId", many=True),
    )),
    Kind("grades", ("grades",), ("Grade",), (
        _f("student_id", "studentSectionAssociationReference.studentUniqueId",
           "StudentSectionAssociationReference//StudentUniqueId"),
        _f("school_id", "studentSectionAssociationReference.schoolId",
           "StudentSectionAssociationReference//CourseOfferingReference//SchoolId"),
        _f("course_id", "studentSectionAssociationReference.localCourseCode",
           "StudentSectionAssociationReference//LocalCourseCode"),
        _f("school_year", "studentSectionAssociationReference.schoolYear",
           "StudentSectionAssociationReference//SessionReference//SchoolYear"),
        _f("term", "gradingPeriodReference.gradingPeriodDescriptor",
           ("GradingPeriodReference//GradingPeriod", "GradingPeriodReference//GradingPeriodDescriptor")),
        _f("session", "studentSectionAssociationReference.sessionName",
           "StudentSectionAssociationReference//SessionReference//SessionName"),
        _f("letter", "letterGradeEarned", "LetterGradeEarned"),
        _f("numeric", "numericGradeEarned", "NumericGradeEarned"),
    )),
    Kind("transcripts", ("courseTranscripts",), ("CourseTranscript",), (
        _f("student_id", "studentAcademicRecordReference.studentUniqueId", "StudentAcademicRecordReference//StudentUniqueId"),
        _f("school_id", ("courseReference.educationOrganizationId", "studentAcademicRecordReference.educationOrganizationId"),
           ("CourseReference//EducationOrganizationId", "StudentAcademicRecordReference//EducationOrganizationId")),
        _f("school_year", "studentAcademicRecordReference.schoolYear", "StudentAcademicRecordReference//SchoolYear"),
        _f("term", "studentAcademicRecordReference.termDescriptor", "StudentAcademicRecordReference//Term"),
        _f("course_id", "courseReference.courseCode", "CourseReference//CourseCode"),
        _f("subject", "academicSubjectDescriptor", "AcademicSubject"),
        _f("letter", "finalLetterGradeEarned", "FinalLetterGradeEarned"),
        _f("numeric", "finalNumericGradeEarned", "FinalNumericGradeEarned"),
        _f("attempted", "attemptedCredits", ("AttemptedCredits/Credits", "AttemptedCredits")),
        _f("earned", "earnedCredits", ("EarnedCredits/Credits", "EarnedCredits")),
    )),
    Kind("courses", ("courses",), ("Course",), (
        _f("course_id", "courseCode", "CourseCode"),
        _f("subject", "academicSubjectDescriptor", "AcademicSubject"),
        _f("credits", "maximumAvailableCredits", ("MaximumAvailableCredits/Credits", "MaximumAvailableCredits")),
    )),
    Kind("edorg_associations", ("studentEducationOrganizationAssociations",),
         ("StudentEducationOrganizationAssociation",), (
        _STUDENT,
        _f("lep", "limitedEnglishProficiencyDescriptor", "LimitedEnglishProficiency"),
        _f("sex", "sexDescriptor", "Sex"),
        _f("race", "races[].raceDescriptor", ("Race/Race", "Race"), many=True),
        _f("hispanic", "hispanicLatinoEthnicity", "HispanicLatinoEthnicity"),
        _f("characteristic", "studentCharacteristics[].studentCharacteristicDescriptor",
           "StudentCharacteristic/StudentCharacteristic", many=True),
    )),
    Kind("programs", _PROGRAM_RESOURCES, tuple(r[0].upper() + r[1:-1] for r in _PROGRAM_RESOURCES), (
        _STUDENT,
        _f("program_type", "programReference.programTypeDescriptor", "ProgramReference//ProgramType"),
        _f("begin", "beginDate", "BeginDate"),
        _f("end", "endDate", "EndDate"),
    )),
)

BY_NAME = {kind.name: kind for kind in KINDS}
BY_RESOURCE = {resource.lower(): kind for kind in KINDS for resource in kind.resources}
BY_ELEMENT = {element: kind for kind in KINDS for element in kind.elements}
