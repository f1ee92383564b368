CREATE DATABASE rasa_tracker OWNER frontdesk;
