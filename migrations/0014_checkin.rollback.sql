-- Undoes 0014_checkin: the admissions are dropped, ushers become plain users again.
DROP TABLE admissions;
DROP TABLE checkins;
UPDATE users SET role = 'user' WHERE role = 'usher';
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('user', 'admin'));
