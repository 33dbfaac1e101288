// The app's entry: the provider first, then the app.
import './crypto-setup';
import { AppRegistry } from 'react-native';
import { App } from './App';

AppRegistry.registerComponent('BackupExample', () => App);
