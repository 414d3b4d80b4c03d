"""Small Ed-Fi sources for the resources the shared samples lack, in the shapes of the
ODS/API v5-v7 resources and the Data Standard 5.x XML interchanges (Ed-Fi XSD)."""

from __future__ import annotations

import json
from pathlib import Path

ED = "uri://ed-fi.org/"
YEAR = "2021-2022"


def d(descriptor: str, code: str) -> str:
    return f"{ED}{descriptor}#{code}"


def _lines(path: Path, records: list[dict], *, bom: bool = False, array: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(records) if array else "\n".join(json.dumps(r) for r in records) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))


def student_ref(sid: str) -> dict:
    return {"studentUniqueId": sid, "link": {"rel": "Student", "href": "/ed-fi/students/x"}}


def write_api_source(folder: Path) -> Path:
    """A district of two schools and five students, every resource the import reads."""
    _lines(folder / "schools.json", [
        {"id": "s1", "schoolId": 100, "nameOfInstitution": "North Elementary",
         "localEducationAgencyReference": {"localEducationAgencyId": 9}},
        {"id": "s2", "schoolId": 200, "nameOfInstitution": "South High",
         "localEducationAgencyReference": {"localEducationAgencyId": 9}},
    ], array=True)
    _lines(folder / "students.jsonl", [
        {"id": f"st{i}", "studentUniqueId": f"00{i}", "firstName": f"First{i}", "lastSurname": f"Last{i}",
         "birthDate": f"201{i}-03-0{i}"} for i in range(1, 6)
    ], bom=True)
    _lines(folder / "studentSchoolAssociations.jsonl", [
        {"id": "a1", "studentReference": student_ref("001"), "schoolReference": {"schoolId": 100},
         "entryDate": "2021-08-23", "entryGradeLevelDescriptor": d("GradeLevelDescriptor", "Third grade")},
        {"id": "a2", "studentReference": student_ref("002"), "schoolReference": {"schoolId": 100},
         "entryDate": "2021-08-23", "exitWithdrawDate": "2021-12-17",
         "entryGradeLevelDescriptor": d("GradeLevelDescriptor", "Kindergarten")},
        {"id": "a3", "studentReference": student_ref("003"), "schoolReference": {"schoolId": 200},
         "entryDate": "2021-08-23", "entryGradeLevelDescriptor": d("GradeLevelDescriptor", "Ninth grade")},
        {"id": "a4", "studentReference": student_ref("004"), "schoolReference": {"schoolId": 200},
         "entryDate": "2021-08-23", "entryGradeLevelDescriptor": d("GradeLevelDescriptor", "Tenth grade")},
        {"id": "a5", "studentReference": student_ref("005"), "schoolReference": {"schoolId": 200},
         "entryDate": "2020-08-24", "exitWithdrawDate": "2021-05-28",
         "entryGradeLevelDescriptor": d("GradeLevelDescriptor", "Ninth grade")},
    ])
    _lines(folder / "sessions.json", [
        {"id": f"se{s}", "schoolReference": {"schoolId": s}, "schoolYearTypeReference": {"schoolYear": 2022},
         "sessionName": "Fall", "beginDate": "2021-08-23", "endDate": "2021-09-03", "totalInstructionalDays": 10,
         "termDescriptor": d("TermDescriptor", "Fall Semester")} for s in (100, 200)
    ], array=True)
    # School 100: a full calendar of ten days; school 200: only two dates, so its sessions rule.
    days = ["2021-08-23", "2021-08-24", "2021-08-25", "2021-08-26", "2021-08-27",
            "2021-08-30", "2021-08-31", "2021-09-01", "2021-09-02", "2021-09-03"]
    _lines(folder / "calendarDates.jsonl", [
        {"id": f"c{i}", "calendarReference": {"calendarCode": "1", "schoolId": 100, "schoolYear": 2022}, "date": day,
         "calendarEvents": [{"calendarEventDescriptor": d("CalendarEventDescriptor", "Instructional day")}]}
        for i, day in enumerate(days)
    ] + [
        {"id": "c98", "calendarReference": {"calendarCode": "2", "schoolId": 200, "schoolYear": 2022},
         "date": "2021-08-23", "calendarEvents": [{"calendarEventDescriptor": d("CalendarEventDescriptor", "Instructional day")}]},
        {"id": "c99", "calendarReference": {"calendarCode": "2", "schoolId": 200, "schoolYear": 2022},
         "date": "2021-09-06", "calendarEvents": [{"calendarEventDescriptor": d("CalendarEventDescriptor", "Holiday")}]},
    ])
    cat = lambda code: d("AttendanceEventCategoryDescriptor", code)  # noqa: E731
    _lines(folder / "studentSchoolAttendanceEvents.jsonl", [
        {"id": "e1", "studentReference": student_ref("001"), "schoolReference": {"schoolId": 100},
         "sessionReference": {"schoolId": 100, "schoolYear": 2022, "sessionName": "Fall"},
         "eventDate": "2021-08-24", "attendanceEventCategoryDescriptor": cat("Tardy")},
        {"id": "e2", "studentReference": student_ref("001"), "schoolReference": {"schoolId": 100},
         "eventDate": "2021-08-24", "attendanceEventCategoryDescriptor": cat("Unexcused Absence")},
        {"id": "e3", "studentReference": student_ref("002"), "schoolReference": {"schoolId": 100},
         "eventDate": "2021-08-25", "attendanceEventCategoryDescriptor": cat("Excused Absence")},
        {"id": "e4", "studentReference": student_ref("003"), "schoolReference": {"schoolId": 200},
         "eventDate": "2021-08-26", "attendanceEventCategoryDescriptor": "uri://district.org/AttendanceEventCategoryDescriptor#Field Trip"},
        {"id": "e5", "studentReference": student_ref("004"), "schoolReference": {"schoolId": 200},
         "eventDate": "2021-08-27", "attendanceEventCategoryDescriptor": cat("Partial")},
    ])
    _lines(folder / "disciplineIncidents.json", [
        {"id": "i1", "incidentIdentifier": "7", "schoolReference": {"schoolId": 200}, "incidentDate": "2021-08-30",
         "behaviors": [{"behaviorDescriptor": d("BehaviorDescriptor", "School Code of Conduct")}]},
        {"id": "i2", "incidentIdentifier": "7", "schoolReference": {"schoolId": 100}, "incidentDate": "2021-08-31",
         "behaviors": [{"behaviorDescriptor": d("BehaviorDescriptor", "State Offense")}]},
    ], array=True)
    link = lambda inc, school, sid: {"studentDisciplineIncidentBehaviorAssociationReference": {  # noqa: E731
        "incidentIdentifier": inc, "schoolId": school, "studentUniqueId": sid,
        "behaviorDescriptor": d("BehaviorDescriptor", "School Code of Conduct")}}
    _lines(folder / "studentDisciplineIncidentBehaviorAssociations.jsonl", [
        {"id": "b1", "studentReference": student_ref("003"), "behaviorDescriptor": d("BehaviorDescriptor", "School Violation"),
         "disciplineIncidentReference": {"incidentIdentifier": "7", "schoolId": 200}},
        {"id": "b2", "studentReference": student_ref("004"), "behaviorDescriptor": d("BehaviorDescriptor", "School Code of Conduct"),
         "disciplineIncidentReference": {"incidentIdentifier": "7", "schoolId": 200}},
        {"id": "b3", "studentReference": student_ref("001"), "behaviorDescriptor": d("BehaviorDescriptor", "State Offense"),
         "disciplineIncidentReference": {"incidentIdentifier": "7", "schoolId": 100}},
        {"id": "b4", "studentReference": student_ref("002"), "behaviorDescriptor": d("BehaviorDescriptor", "State Offense"),
         "disciplineIncidentReference": {"incidentIdentifier": "7", "schoolId": 100}},
    ])
    dis = lambda code: [{"disciplineDescriptor": d("DisciplineDescriptor", code)}]  # noqa: E731
    _lines(folder / "disciplineActions.jsonl", [
        {"id": "x1", "disciplineActionIdentifier": "1", "disciplineDate": "2021-08-30", "studentReference": student_ref("003"),
         "disciplines": dis("In School Suspension"), "actualDisciplineActionLength": 1,
         "responsibilitySchoolReference": {"schoolId": 200}, "studentDisciplineIncidentBehaviorAssociations": [link("7", 200, "003")]},
        {"id": "x2", "disciplineActionIdentifier": "2", "disciplineDate": "2021-08-31", "studentReference": student_ref("003"),
         "disciplines": dis("Out of School Suspension"), "disciplineActionLength": 2,
         "responsibilitySchoolReference": {"schoolId": 200}, "studentDisciplineIncidentBehaviorAssociations": [link("7", 200, "003")]},
        {"id": "x3", "disciplineActionIdentifier": "3", "disciplineDate": "2021-08-31", "studentReference": student_ref("001"),
         "disciplines": dis("Removal from Classroom"), "actualDisciplineActionLength": 1,
         "responsibilitySchoolReference": {"schoolId": 100}, "studentDisciplineIncidentBehaviorAssociations": [link("7", 100, "001")]},
    ])
    _lines(folder / "courses.jsonl", [
        {"id": "k1", "courseCode": "ALG-1", "academicSubjectDescriptor": d("AcademicSubjectDescriptor", "Mathematics"),
         "maximumAvailableCredits": 0.5, "educationOrganizationReference": {"educationOrganizationId": 200}},
    ])
    section = lambda sid: {"localCourseCode": "ALG-1", "schoolId": 200, "schoolYear": 2022,  # noqa: E731
                           "sectionIdentifier": "S1", "sessionName": "Fall", "studentUniqueId": sid, "beginDate": "2021-08-23"}
    _lines(folder / "grades.jsonl", [
        {"id": "g1", "studentSectionAssociationReference": section("003"),
         "gradingPeriodReference": {"gradingPeriodDescriptor": d("GradingPeriodDescriptor", "First Six Weeks"), "periodSequence": 1},
         "gradeTypeDescriptor": d("GradeTypeDescriptor", "Grading Period"), "letterGradeEarned": "B+"},
        {"id": "g2", "studentSectionAssociationReference": section("004"),
         "gradingPeriodReference": {"gradingPeriodDescriptor": d("GradingPeriodDescriptor", "First Six Weeks"), "periodSequence": 1},
         "gradeTypeDescriptor": d("GradeTypeDescriptor", "Grading Period"), "numericGradeEarned": 55},
    ])
    record = lambda sid: {"educationOrganizationId": 200, "schoolYear": 2022, "studentUniqueId": sid,  # noqa: E731
                          "termDescriptor": d("TermDescriptor", "Fall Semester")}
    _lines(folder / "courseTranscripts.jsonl", [
        {"id": "t1", "studentAcademicRecordReference": record("003"),
         "courseReference": {"courseCode": "ENG-1", "educationOrganizationId": 200},
         "academicSubjectDescriptor": d("AcademicSubjectDescriptor", "English Language Arts"),
         "courseAttemptResultDescriptor": d("CourseAttemptResultDescriptor", "Pass"),
         "finalLetterGradeEarned": "A-", "attemptedCredits": 1.0, "earnedCredits": 1.0},
    ])
    _lines(folder / "studentEducationOrganizationAssociations.jsonl", [
        {"id": "o1", "studentReference": student_ref("003"), "educationOrganizationReference": {"educationOrganizationId": 9},
         "limitedEnglishProficiencyDescriptor": d("LimitedEnglishProficiencyDescriptor", "Limited"),
         "sexDescriptor": d("SexDescriptor", "Female"), "hispanicLatinoEthnicity": False,
         "races": [{"raceDescriptor": d("RaceDescriptor", "Asian")}, {"raceDescriptor": d("RaceDescriptor", "White")}],
         "studentCharacteristics": [{"studentCharacteristicDescriptor": d("StudentCharacteristicDescriptor", "Economic Disadvantaged"), "periods": []}]},
        {"id": "o2", "studentReference": student_ref("004"), "educationOrganizationReference": {"educationOrganizationId": 9},
         "limitedEnglishProficiencyDescriptor": d("LimitedEnglishProficiencyDescriptor", "NotLimited"),
         "sexDescriptor": d("SexDescriptor", "Male"), "hispanicLatinoEthnicity": True, "races": []},
    ])
    program = lambda sid, ptype, begin, end=None: {  # noqa: E731
        "id": f"p{sid}{ptype[:3]}", "studentReference": student_ref(sid), "beginDate": begin,
        **({"endDate": end} if end else {}),
        "programReference": {"educationOrganizationId": 9, "programName": ptype, "programTypeDescriptor": d("ProgramTypeDescriptor", ptype)},
        "educationOrganizationReference": {"educationOrganizationId": 9}}
    _lines(folder / "studentSpecialEducationProgramAssociations.jsonl", [
        program("001", "Special Education", "2019-09-01"),
        program("002", "Special Education", "2019-09-01", "2021-06-01"),  # ended before the year
    ])
    _lines(folder / "studentSchoolFoodServiceProgramAssociations.jsonl", [
        program("004", "Student School Food Service", "2021-08-23"),
    ])
    return folder


DISTRICT_MAP = """\
AttendanceEventCategoryDescriptor:
  uri://district.org/AttendanceEventCategoryDescriptor#Field Trip: present
  uri://ed-fi.org/AttendanceEventCategoryDescriptor#Partial: early_departure
DisciplineDescriptor:
  uri://ed-fi.org/DisciplineDescriptor#Removal from Classroom: referral
"""

_NS = 'xmlns="http://ed-fi.org/5.2.0"'


def write_xml_source(folder: Path) -> Path:
    """The interchanges missing from the Grand Bend copy: StudentEnrollment (with a
    StudentEducationOrganizationAssociation), StudentGrade and StudentTranscript."""
    folder.mkdir(parents=True, exist_ok=True)
    school = "<SchoolReference><SchoolIdentity><SchoolId>300</SchoolId></SchoolIdentity></SchoolReference>"
    stu = lambda sid: f"<StudentReference><StudentIdentity><StudentUniqueId>{sid}</StudentUniqueId></StudentIdentity></StudentReference>"  # noqa: E731
    (folder / "EducationOrganization.xml").write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<InterchangeEducationOrganization {_NS}>
  <LocalEducationAgency id="LEA_9"><LocalEducationAgencyId>9</LocalEducationAgencyId><NameOfInstitution>D</NameOfInstitution></LocalEducationAgency>
  <School id="SCOL_300"><NameOfInstitution>West Middle</NameOfInstitution><SchoolId>300</SchoolId>
    <LocalEducationAgencyReference ref="LEA_9"></LocalEducationAgencyReference></School>
  <Course><CourseCode>SCI-7</CourseCode><AcademicSubject>{d("AcademicSubjectDescriptor", "Science")}</AcademicSubject>
    <MaximumAvailableCredits><Credits>1.00</Credits></MaximumAvailableCredits></Course>
</InterchangeEducationOrganization>
""", encoding="utf-8")
    (folder / "Student.xml").write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<InterchangeStudent {_NS}>
  <Student><StudentUniqueId>7001</StudentUniqueId><Name><FirstName>Ann</FirstName><LastSurname>Lee</LastSurname></Name>
    <BirthData><BirthDate>2009-01-02</BirthDate></BirthData></Student>
  <Student><StudentUniqueId>7002</StudentUniqueId><Name><FirstName>Bo</FirstName><LastSurname>Kim</LastSurname></Name>
    <BirthData><BirthDate>2009-05-06</BirthDate></BirthData></Student>
</InterchangeStudent>
""", encoding="utf-8")
    (folder / "StudentEnrollment.xml").write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<InterchangeStudentEnrollment {_NS}>
  <StudentSchoolAssociation>{stu("7001")}{school}<EntryDate>2021-08-23</EntryDate>
    <EntryGradeLevel>{d("GradeLevelDescriptor", "Seventh grade")}</EntryGradeLevel></StudentSchoolAssociation>
  <StudentSchoolAssociation>{stu("7002")}{school}<EntryDate>2021-08-23</EntryDate><ExitWithdrawDate>2022-05-27</ExitWithdrawDate>
    <EntryGradeLevel>{d("GradeLevelDescriptor", "Ungraded")}</EntryGradeLevel></StudentSchoolAssociation>
  <StudentEducationOrganizationAssociation>{stu("7001")}
    <EducationOrganizationReference><EducationOrganizationIdentity><EducationOrganizationId>9</EducationOrganizationId></EducationOrganizationIdentity></EducationOrganizationReference>
    <Sex>{d("SexDescriptor", "Female")}</Sex><HispanicLatinoEthnicity>false</HispanicLatinoEthnicity>
    <LimitedEnglishProficiency>{d("LimitedEnglishProficiencyDescriptor", "Limited")}</LimitedEnglishProficiency>
    <Race><Race>{d("RaceDescriptor", "Asian")}</Race></Race></StudentEducationOrganizationAssociation>
</InterchangeStudentEnrollment>
""", encoding="utf-8")
    section = lambda sid: (  # noqa: E731
        f"<StudentSectionAssociationReference><StudentSectionAssociationIdentity>{stu(sid)}<SectionReference><SectionIdentity>"
        f"<SectionIdentifier>S7</SectionIdentifier><CourseOfferingReference><CourseOfferingIdentity><LocalCourseCode>SCI-7</LocalCourseCode>"
        f"{school}<SessionReference><SessionIdentity><SessionName>Fall</SessionName><SchoolYear>{YEAR}</SchoolYear>{school}"
        f"</SessionIdentity></SessionReference></CourseOfferingIdentity></CourseOfferingReference></SectionIdentity></SectionReference>"
        f"<BeginDate>2021-08-23</BeginDate></StudentSectionAssociationIdentity></StudentSectionAssociationReference>")
    period = (f"<GradingPeriodReference><GradingPeriodIdentity><GradingPeriod>{d('GradingPeriodDescriptor', 'First Six Weeks')}"
              f"</GradingPeriod><PeriodSequence>1</PeriodSequence><SchoolYear>{YEAR}</SchoolYear>{school}</GradingPeriodIdentity></GradingPeriodReference>")
    (folder / "StudentGrade-FirstSixWeeks.xml").write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<InterchangeStudentGrade {_NS}>
  <Grade><LetterGradeEarned>C</LetterGradeEarned><NumericGradeEarned>75</NumericGradeEarned>
    <GradeType>{d("GradeTypeDescriptor", "Grading Period")}</GradeType>{section("7001")}{period}</Grade>
  <Grade><NumericGradeEarned>93</NumericGradeEarned>
    <GradeType>{d("GradeTypeDescriptor", "Grading Period")}</GradeType>{section("7002")}{period}</Grade>
</InterchangeStudentGrade>
""", encoding="utf-8")
    (folder / "StudentTranscript.xml").write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<InterchangeStudentTranscript {_NS}>
  <CourseTranscript><CourseAttemptResult>{d("CourseAttemptResultDescriptor", "Fail")}</CourseAttemptResult>
    <AttemptedCredits><Credits>1.00</Credits></AttemptedCredits><EarnedCredits><Credits>0.00</Credits></EarnedCredits>
    <FinalLetterGradeEarned>F</FinalLetterGradeEarned>
    <CourseReference><CourseIdentity><CourseCode>SCI-7</CourseCode><EducationOrganizationReference><EducationOrganizationIdentity>
      <EducationOrganizationId>300</EducationOrganizationId></EducationOrganizationIdentity></EducationOrganizationReference></CourseIdentity></CourseReference>
    <StudentAcademicRecordReference><StudentAcademicRecordIdentity>{stu("7001")}
      <EducationOrganizationReference><EducationOrganizationIdentity><EducationOrganizationId>300</EducationOrganizationId></EducationOrganizationIdentity></EducationOrganizationReference>
      <SchoolYear>{YEAR}</SchoolYear><Term>{d("TermDescriptor", "Fall Semester")}</Term></StudentAcademicRecordIdentity></StudentAcademicRecordReference>
  </CourseTranscript>
</InterchangeStudentTranscript>
""", encoding="utf-8")
    (folder / "EducationOrgCalendar.xml").write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<InterchangeEducationOrgCalendar {_NS}>
  <Session><SessionName>Fall</SessionName><SchoolYear>{YEAR}</SchoolYear><BeginDate>2021-08-23</BeginDate>
    <EndDate>2021-12-17</EndDate><Term>{d("TermDescriptor", "Fall Semester")}</Term><TotalInstructionalDays>81</TotalInstructionalDays>{school}</Session>
</InterchangeEducationOrgCalendar>
""", encoding="utf-8")
    return folder
