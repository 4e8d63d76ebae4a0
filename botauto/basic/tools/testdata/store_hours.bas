PARAM city AS STRING LIKE "Lisbon" DESCRIPTION "City to look up"
PARAM day AS DATE DESCRIPTION "Day of the visit" OPTIONAL
PARAM people AS INTEGER LIKE 2 OPTIONAL
PARAM kind AS STRING ENUM ["store", "outlet"] DESCRIPTION "Kind of shop"
PARAM contact AS EMAIL
DESCRIPTION "Tells the opening hours of our store in a city"

hours = FIND "stores", "city=" + city
IF ISEMPTY(hours) THEN
    TALK "We have no store in " + city + "."
    RETURN ""
END IF
TALK "Our " + city + " store opens at " + hours.open
RETURN hours
