"""Static files of the rider web page (a package so that they ship with the wheel)."""
